"""Prometheus metrics of this process: every metric the service exports is declared here.

Features import the metric objects they update from this module, so the full list (and its
documentation in docs/OPERATIONS.md, "Metrics") lives in one place.

Several granian workers serve the API, each a process of its own. `python -m app.serve` (the
parent of the workers) points PROMETHEUS_MULTIPROC_DIR at a fresh directory before any worker
starts; prometheus_client then keeps every value in a memory-mapped file per process there, and
a scrape sums the files of all workers (`scrape`). Without that variable (tests, one process) the
ordinary in-memory registry is used. Gauges say how their values from several processes combine
(`multiprocess_mode`).
"""

from __future__ import annotations

import asyncio
import bisect
import os
import re
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

from app.core.processes import is_running

__all__ = [
    "ALERTS",
    "CACHE_LOOKUPS",
    "CONTENT_TYPE_LATEST",
    "DB_POOL_ACQUIRE_TIMEOUTS",
    "DB_POOL_CONNECTIONS",
    "DB_POOL_SATURATION",
    "HTTP_REQUESTS",
    "HTTP_REQUEST_DURATION",
    "JOBS",
    "JOBS_SCRAPE_ERRORS",
    "MULTIPROC_ENV",
    "OPERATION_DURATION",
    "RATE_LIMIT_BACKEND_ERRORS",
    "RATE_LIMIT_REJECTIONS",
    "SLOW_QUERIES",
    "UNMATCHED_ROUTE",
    "RequestMetrics",
    "mark_process_dead",
    "multiprocess_dir",
    "request_metrics",
    "scrape",
]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED_ROUTE = "<unmatched>"
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Request latency buckets (seconds): the hot reads take well under 5 ms, writes with argon2 ~50 ms.
_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

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

HTTP_REQUESTS = Counter(
    "app_http_requests_total",
    "HTTP requests answered, by route template (<unmatched> when no route matched), method and status.",
    ["route", "method", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "app_http_request_duration_seconds",
    "Time from the first byte of a request to the end of its response, by route template, method, status.",
    ["route", "method", "status"],
    buckets=_LATENCY_BUCKETS,
)
OPERATION_DURATION = Histogram(
    "app_operation_duration_seconds",
    "Duration of a monitored operation (@monitor_performance), failed calls included.",
    ["operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
DB_POOL_CONNECTIONS = Gauge(
    "app_db_pool_connections",
    "Database pool connections of the API workers, summed: in_use, idle, open (size) and max.",
    ["state"],
    multiprocess_mode="livesum",
)
DB_POOL_SATURATION = Gauge(
    "app_db_pool_saturation",
    "Share of its pool's maximum that the most loaded API worker has in use (0 to 1).",
    multiprocess_mode="livemax",
)
DB_POOL_ACQUIRE_TIMEOUTS = Counter(
    "app_db_pool_acquire_timeouts_total",
    "Requests that waited DB_POOL_ACQUIRE_TIMEOUT for a pooled connection in vain (answered 503).",
)
JOBS = Gauge(
    "app_jobs",
    "Jobs in the queue by state (queued, running, succeeded, dead), read at most every few seconds.",
    ["state"],
    multiprocess_mode="mostrecent",
)
JOBS_SCRAPE_ERRORS = Counter(
    "app_jobs_count_errors_total",
    "Failed or timed-out reads of the job counts (app_jobs then keeps its last value).",
)
CACHE_LOOKUPS = Counter(
    "app_cache_lookups_total",
    "Service cache lookups: local_hit (worker memory), hit (Redis), miss (computed), error (Redis failed).",
    ["result"],
)
ALERTS = Counter(
    "app_alerts_total",
    "Alerts raised, by title and severity; outcome sent or suppressed (a duplicate within the window).",
    ["title", "severity", "outcome"],
)
SLOW_QUERIES = Counter(
    "app_slow_queries_total",
    "Statements slower than SLOW_QUERY_MS, by aiosql query name (<other> for unnamed SQL).",
    ["query"],
)


def multiprocess_dir() -> str | None:
    """The shared metrics directory of this process's server, if it runs in multi-process mode."""
    return os.environ.get(MULTIPROC_ENV) or None


def scrape() -> bytes:
    """The text exposition of every metric: of all worker processes in multi-process mode."""
    request_metrics.flush()
    path = multiprocess_dir()
    if path is None:
        return generate_latest(REGISTRY)
    forget_dead_processes(path)
    registry = CollectorRegistry()
    _multiprocess.MultiProcessCollector(registry, path=path)
    return generate_latest(registry)


_LIVE_GAUGE_FILE = re.compile(r"^gauge_live\w*_(\d+)\.db$")


def forget_dead_processes(path: str) -> None:
    """Drop the live gauges of workers that died without their shutdown (killed, crashed):
    granian starts a new worker in their place, and their last pool numbers would otherwise
    be summed in until the server restarts. Their counters stay: what they counted happened."""
    for name in os.listdir(path):
        match = _LIVE_GAUGE_FILE.match(name)
        if match is not None and not is_running(int(match.group(1))):
            _multiprocess.mark_process_dead(int(match.group(1)), path)  # pyright: ignore[reportUnknownMemberType]


def mark_process_dead(pid: int | None = None) -> None:
    """Drop this (or `pid`'s) live gauges from the shared directory; a no-op in one process."""
    path = multiprocess_dir()
    if path is not None:
        _multiprocess.mark_process_dead(pid or os.getpid(), path)  # pyright: ignore[reportUnknownMemberType]


class RequestMetrics:
    """Counts and times HTTP requests for the cost of a dict lookup and a few list increments.

    prometheus_client spends about 1.4 us per request on a counter and a histogram (3.2 us in
    multi-process mode, where every increment writes a memory-mapped file under a lock). Here a
    request only adds to this process's running totals per (route, method, status); they are
    folded into the metrics at most `FLUSH_SECONDS` later and before every scrape (`flush`).
    Routes are templates (`/orgs/{org_id:uuid}/items`), never raw paths, and methods outside
    the standard ones count as OTHER, so clients cannot grow the label sets.
    """

    FLUSH_SECONDS = 1.0

    def __init__(self) -> None:
        # key -> [count, sum of seconds, one count per bucket of _LATENCY_BUCKETS, then +Inf]
        self._pending: dict[tuple[str, str, int], list[float]] = {}
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._flush_due = False

    def observe(self, route: str | None, method: str, status: int, seconds: float) -> None:
        if method not in _KNOWN_METHODS:
            method = "OTHER"
        key = (route or UNMATCHED_ROUTE, method, status)
        totals = self._pending.get(key)
        if totals is None:
            totals = self._pending[key] = [0.0] * (len(_LATENCY_BUCKETS) + 3)
        totals[0] += 1
        totals[1] += seconds
        totals[2 + bisect.bisect_left(_LATENCY_BUCKETS, seconds)] += 1
        if not self._flush_due:
            self._schedule_flush()

    def _schedule_flush(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # outside the event loop: fold in at once
            self.flush()
            return
        self._flush_due = True
        loop.call_later(self.FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        """Fold the running totals into the Prometheus metrics (before a scrape, at shutdown)."""
        self._flush_due = False
        pending, self._pending = self._pending, {}
        for key, totals in pending.items():
            counter, histogram = self._children.get(key) or self._add(key)
            counter.inc(totals[0])
            # A histogram child keeps its sum and one (non-cumulative) count per bucket; adding to
            # them at once equals observing each request (tests/core/test_metrics.py checks it).
            histogram._sum.inc(totals[1])  # pyright: ignore[reportPrivateUsage]
            for index, count in enumerate(totals[2:]):
                if count:
                    histogram._buckets[index].inc(count)  # pyright: ignore[reportPrivateUsage]

    def _add(self, key: tuple[str, str, int]) -> tuple[Any, Any]:
        route, method, status = key
        children = (
            HTTP_REQUESTS.labels(route, method, str(status)),
            HTTP_REQUEST_DURATION.labels(route, method, str(status)),
        )
        self._children[key] = children
        return children


request_metrics = RequestMetrics()
