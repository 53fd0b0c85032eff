"""Policies: the YAML schema, loading and compiling, and matching requests to policies."""
