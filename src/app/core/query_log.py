"""The slow-query log: a WARNING line, and a count, for every statement slower than SLOW_QUERY_MS.

    {"level": "WARNING", "logger": "app.slow_query", "message": "slow query",
     "query": "items.list_items_by_org", "duration_ms": 412.7, ...}

The statement is named by its aiosql query (`<other>` for SQL that is not a named query, with
its first characters in `statement`); parameters are never logged. Statements that fail (a
statement timeout, a cancelled request) are timed and logged too.

Two ways to attach it to the pool's connections, both cheap while queries are fast:

- `SlowQueryConnection` (`create_pool(..., connection_class=slow_query_connection_class(ms))`)
  times the driver's query methods itself: about 0.3 us per statement (measured with uvloop).
- `install_query_logger(conn, ms)` (from the pool's ``init``) uses asyncpg's public
  `add_query_logger`: asyncpg then builds a record and schedules a callback for every
  statement, about 2.7 us per statement whatever its duration (docs/OPERATIONS.md,
  "Slow queries"). Prefer the connection class.
"""

# The overrides keep asyncpg's own signatures, `timeout` arguments included.
# ruff: noqa: ASYNC109

from __future__ import annotations

import logging
import time
from typing import Any

import asyncpg

from app.core.metrics import SLOW_QUERIES

__all__ = [
    "OTHER_QUERY",
    "SlowQueryConnection",
    "install_query_logger",
    "query_name",
    "report_if_slow",
    "slow_query_connection_class",
]

logger = logging.getLogger("app.slow_query")
OTHER_QUERY = "<other>"
_STATEMENT_CHARS = 120
_names: dict[str, str] | None = None


def _query_names() -> dict[str, str]:
    """SQL text (as aiosql hands it to asyncpg) -> the query's name, built once."""
    global _names
    if _names is None:
        from app.core.db import sql  # app.core.db may import this module

        queries = sql()
        names: dict[str, str] = {}
        for dotted in queries.available_queries:
            target: Any = queries
            for part in dotted.split("."):
                target = getattr(target, part, None)
            text = getattr(target, "sql", None)
            if isinstance(text, str):
                names.setdefault(text, dotted)
        _names = names
    return _names


def query_name(statement: str) -> str:
    """The aiosql name of `statement`, or OTHER_QUERY."""
    return _query_names().get(statement, OTHER_QUERY)


def report_if_slow(statement: str, seconds: float, threshold_seconds: float) -> None:
    """Log and count `statement` if it took longer than the threshold (never its parameters)."""
    if seconds < threshold_seconds:
        return
    name = query_name(statement)
    SLOW_QUERIES.labels(name).inc()
    extra: dict[str, Any] = {"query": name, "duration_ms": round(seconds * 1000, 1)}
    if name == OTHER_QUERY:
        extra["statement"] = " ".join(statement.split())[:_STATEMENT_CHARS]
    logger.warning("slow query", extra=extra)


class SlowQueryConnection(asyncpg.Connection):  # pyright: ignore[reportMissingTypeArgument]
    """An asyncpg connection that reports its slow statements (`report_if_slow`).

    The threshold is a class attribute: `slow_query_connection_class` makes a subclass per
    setting. Every method aiosql and the services use is covered (the pool's proxy calls the
    methods of the connection's class).
    """

    __slots__ = ()
    threshold_seconds: float = 0.2

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        started = time.perf_counter()
        try:
            return await super().execute(query, *args, timeout=timeout)
        finally:
            report_if_slow(query, time.perf_counter() - started, self.threshold_seconds)

    async def executemany(self, command: str, args: Any, *, timeout: float | None = None) -> None:
        started = time.perf_counter()
        try:
            return await super().executemany(command, args, timeout=timeout)
        finally:
            report_if_slow(command, time.perf_counter() - started, self.threshold_seconds)

    async def fetch(self, query: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await super().fetch(query, *args, timeout=timeout, **kwargs)
        finally:
            report_if_slow(query, time.perf_counter() - started, self.threshold_seconds)

    async def fetchrow(self, query: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await super().fetchrow(query, *args, timeout=timeout, **kwargs)
        finally:
            report_if_slow(query, time.perf_counter() - started, self.threshold_seconds)

    async def fetchval(self, query: str, *args: Any, column: int = 0, timeout: float | None = None) -> Any:
        started = time.perf_counter()
        try:
            return await super().fetchval(query, *args, column=column, timeout=timeout)
        finally:
            report_if_slow(query, time.perf_counter() - started, self.threshold_seconds)


def slow_query_connection_class(threshold_ms: int) -> type[asyncpg.Connection[Any]]:
    """The `connection_class` for `create_pool`: plain asyncpg when `threshold_ms` is 0 (off)."""
    if threshold_ms <= 0:
        return asyncpg.Connection
    return type(
        "SlowQueryConnection",
        (SlowQueryConnection,),
        {"__slots__": (), "threshold_seconds": threshold_ms / 1000},
    )


def install_query_logger(conn: Any, threshold_ms: int) -> None:
    """Report `conn`'s slow statements through asyncpg's query logger; nothing when 0 (off)."""
    if threshold_ms <= 0:
        return
    threshold_seconds = threshold_ms / 1000

    def on_query(record: Any) -> None:
        if record.elapsed >= threshold_seconds:
            report_if_slow(record.query, record.elapsed, threshold_seconds)

    conn.add_query_logger(on_query)
