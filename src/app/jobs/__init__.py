"""Background jobs: a durable queue in PostgreSQL, claimed by `python -m app.worker`."""
