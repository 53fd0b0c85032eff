"""Policy test suites (kind PolicyTest): the schema, loading, running and reporting them."""
