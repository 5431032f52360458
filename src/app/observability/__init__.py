"""Operators' endpoints and samplers: /metrics, /debug/sentry-test, the separate metrics port."""
