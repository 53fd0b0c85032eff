"""Benchmarks of policy-webhook: the engine in-process, and the HTTPS server under load.

`objects` and `mix` build realistic AdmissionReviews, `policysets` the three policy sets,
`loadgen` drives a server like the API server does (a module and a command line; its
connections are `loadconnection`'s, its results `loadresult`'s).
"""
