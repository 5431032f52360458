"""Handlers per inbound event type, and the job that runs them.

A handler gets the connection of the transaction that also marks the event processed, so
whatever it writes to the database happens exactly once with that mark; effects outside the
database (calls to other services) must be idempotent, since a job can run again after a lost
lease. An event of a type nobody handles is marked 'ignored', not failed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from app.core.db import Connection, Database
from app.core.logging import get_logger
from app.inbound import queries
from app.inbound.structs import InboundEvent, InboundState
from app.jobs.structs import ClaimedJob

__all__ = ["InboundHandler", "InboundHandlers", "mark_inbound_event_failed", "process_inbound_event"]

logger = get_logger(__name__)

InboundHandler = Callable[[Connection, InboundEvent], Awaitable[None]]
ANY_SOURCE = "*"


class InboundHandlers:
    """(source, event type) -> handler; a source of "*" matches every source."""

    def __init__(self) -> None:
        self._handlers: dict[tuple[str, str], InboundHandler] = {}

    def register(self, event_type: str, handler: InboundHandler, *, source: str = ANY_SOURCE) -> None:
        key = (source, event_type)
        if key in self._handlers:
            raise ValueError(f"a handler for {event_type!r} from {source!r} exists already")
        self._handlers[key] = handler

    def find(self, source: str, event_type: str) -> InboundHandler | None:
        return self._handlers.get((source, event_type)) or self._handlers.get((ANY_SOURCE, event_type))


async def process_inbound_event(db: Database, handlers: InboundHandlers, job: ClaimedJob) -> None:
    """The `inbound.process` job: run the handler and mark the event, in one transaction."""
    source, event_id = str(job.payload["source"]), str(job.payload["event_id"])
    async with db.transaction() as conn:
        event = await queries.lock_inbound_event(conn, source=source, event_id=event_id)
        if event is None:
            return  # processed (or given up) before: a job that ran again
        handler = handlers.find(source, event.event_type)
        if handler is not None:
            await handler(conn, event)
        state = InboundState.PROCESSED if handler is not None else InboundState.IGNORED
        await queries.finish_inbound_event(conn, source=source, event_id=event_id, state=state, error=None)


async def mark_inbound_event_failed(db: Database, payload: dict[str, Any], error: str) -> None:
    """The on-dead hook of `inbound.process`: its event is 'failed' (an admin may retry it)."""
    source, event_id = str(payload["source"]), str(payload["event_id"])
    async with db.transaction() as conn:
        await queries.finish_inbound_event(
            conn, source=source, event_id=event_id, state=InboundState.FAILED, error=error
        )
    logger.error("inbound event failed", extra={"source": source, "event_id": event_id})
