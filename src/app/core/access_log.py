"""The access log: one JSON line per HTTP request, in the shape of every other log line.

Lines are encoded here and written straight to the log stream, not through `logging`: a
`LogRecord`, the handler's lock and formatter and Sentry's breadcrumb hook per request cost about
a fifth of a cached item read (docs/BENCHMARKS.md). The `app.access` logger's level still
decides whether lines are written (`LOG_LEVEL=WARNING` turns them off).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime

import msgspec

from app.core.context import RequestContext

__all__ = ["AccessLine", "AccessLog", "access_log"]

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


def _write_stdout(line: bytes) -> None:
    stream = sys.stdout
    stream.flush()  # whatever `logging` wrote first stays first
    stream.buffer.write(line)
    stream.buffer.flush()


class AccessLog:
    """Writes access lines to `sink` (stdout by default; tests collect them)."""

    def __init__(self) -> None:
        self._logger = logging.getLogger(LOGGER_NAME)
        self._encoder = msgspec.json.Encoder()
        self.sink: Callable[[bytes], None] = _write_stdout

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
