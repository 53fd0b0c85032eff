"""Image signature verification: the only code that talks to registries.

`api` holds the pure request/result types the engine and checks use; the rest is I/O.
"""
