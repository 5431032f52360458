"""The access log: one JSON line per HTTP request, in the shape of every other log line.

Lines are encoded here and written straight to the log stream, not through `logging`: a
`LogRecord`, the handler's lock and formatter and Sentry's breadcrumb hook per request cost about
a fifth of a cached item read (docs/BENCHMARKS.md). The `app.access` logger's level still
decides whether lines are written (`LOG_LEVEL=WARNING` turns them off).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime

import msgspec

from app.core.context import RequestContext

__all__ = ["AccessLine", "AccessLog", "StdoutSink", "access_log"]

LOGGER_NAME = "app.access"


class AccessLine(msgspec.Struct, kw_only=True):
    """Field for field what `app.core.logging.JsonFormatter` writes, plus the request's facts."""

    timestamp: str
    level: str = "INFO"
    logger: str = LOGGER_NAME
    message: str = "request"
    request_id: str
    user_id: str | None
    org_id: str | None
    method: str
    path: str
    status: int
    duration_ms: float
    client_ip: str | None


class StdoutSink:
    """Appends lines to stdout's buffer and flushes it at most every `FLUSH_SECONDS`.

    A flush per line was a `write` system call per request. Lines wait at most this long (and
    any other log line flushes them first, so the order of lines is kept); a process killed
    outright can lose that much of its access log, never an error line (`logging` flushes those
    itself).
    """

    FLUSH_SECONDS = 0.1

    def __init__(self) -> None:
        self._flush_due = False

    def __call__(self, line: bytes) -> None:
        stream = sys.stdout
        stream.buffer.write(line)
        if self._flush_due:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # outside the event loop: nothing would flush it later
            stream.buffer.flush()
            return
        self._flush_due = True
        loop.call_later(self.FLUSH_SECONDS, self._flush)

    def _flush(self) -> None:
        self._flush_due = False
        with contextlib.suppress(OSError, ValueError):  # stdout closed or gone at shutdown
            sys.stdout.buffer.flush()


class AccessLog:
    """Writes access lines to `sink` (stdout by default; tests collect them)."""

    def __init__(self) -> None:
        self._logger = logging.getLogger(LOGGER_NAME)
        self._encoder = msgspec.json.Encoder()
        self.sink: Callable[[bytes], None] = StdoutSink()

    def enabled(self) -> bool:
        return self._logger.isEnabledFor(logging.INFO)

    def write(self, context: RequestContext, method: str, path: str, status: int, duration_ms: float) -> None:
        line = AccessLine(
            timestamp=datetime.now(UTC).isoformat(timespec="milliseconds"),
            request_id=context.request_id,
            user_id=context.user_id,
            org_id=context.org_id,
            method=method,
            path=path,
            status=status,
            duration_ms=duration_ms,
            client_ip=context.client_ip,
        )
        self.sink(self._encoder.encode(line) + b"\n")


access_log = AccessLog()
