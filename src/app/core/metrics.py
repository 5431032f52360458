"""Prometheus metrics of this process: every metric the service exports is declared here.

Features import the metric objects they update from this module, so the full list (and its
documentation in docs/OPERATIONS.md) lives in one place.
"""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["RATE_LIMIT_BACKEND_ERRORS", "RATE_LIMIT_REJECTIONS"]

RATE_LIMIT_REJECTIONS = Counter(
    "app_rate_limit_rejections_total",
    "Requests refused with 429 by a rate limit, by limit group and key kind.",
    ["group", "key_kind"],
)
RATE_LIMIT_BACKEND_ERRORS = Counter(
    "app_rate_limit_backend_errors_total",
    "Rate-limit checks that could not reach Redis and failed open (or fell back in-process).",
    ["group"],
)
