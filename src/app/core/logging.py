"""Structured JSON logging: one JSON object per line, with the request context on every line.

Usage::

    from app.core.logging import get_logger

    logger = get_logger(__name__)
    logger.info("user registered", extra={"user_id": str(user.id)})
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import msgspec

from app.core.context import current_context

__all__ = ["JsonFormatter", "configure_logging", "get_logger"]

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged.
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime", "taskName"}
)
_encoder = msgspec.json.Encoder(enc_hook=str)
GRANIAN_LOGGERS = ("_granian", "granian.access")


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line with timestamp, level, logger, message and context."""

    def format(self, record: logging.LogRecord) -> str:
        context = current_context()
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": context.request_id if context else None,
            "user_id": context.user_id if context else None,
            "org_id": context.org_id if context else None,
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _encoder.encode(line).decode()


def configure_logging(level: str = "INFO") -> None:
    """Send every logger's output, as JSON lines, to stdout. Safe to call more than once."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Our access log replaces these; keep their warnings.
    for noisy in ("httpx", "httpcore", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # granian configures its own loggers with plain-text handlers in each worker: send their
    # records through the JSON handler too (`python -m app.serve` also does so in its main process).
    for name in GRANIAN_LOGGERS:
        granian = logging.getLogger(name)
        granian.handlers[:] = []
        granian.propagate = True


def get_logger(name: str) -> logging.Logger:
    """Return the standard library logger `name`; formatting is configured once at start-up."""
    return logging.getLogger(name)
