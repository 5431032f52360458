"""Typed functions over the named SQL in `sql/inbound/`."""

from __future__ import annotations

from uuid import UUID

from app.core.db import Connection, row_or_none, rows, sql
from app.inbound.structs import InboundEvent, InboundEventOut, InboundState


def _q():  # noqa: ANN202 - aiosql namespace, dynamically typed
    return sql().inbound


async def insert_inbound_event(
    conn: Connection,
    *,
    id: UUID,  # noqa: A002
    source: str,
    event_id: str,
    event_type: str,
    body: bytes,
    job_id: UUID,
    max_attempts: int,
) -> bool:
    """True if the event is new (stored and queued); False for a duplicate delivery."""
    record = await _q().insert_inbound_event(
        conn,
        id=id,
        source=source,
        event_id=event_id,
        event_type=event_type,
        body=body,
        job_id=job_id,
        max_attempts=max_attempts,
    )
    return record is not None


async def get_inbound_event(conn: Connection, *, source: str, event_id: str) -> InboundEvent | None:
    return row_or_none(await _q().get_inbound_event(conn, source=source, event_id=event_id), InboundEvent)


async def lock_inbound_event(conn: Connection, *, source: str, event_id: str) -> InboundEvent | None:
    return row_or_none(await _q().lock_inbound_event(conn, source=source, event_id=event_id), InboundEvent)


async def finish_inbound_event(
    conn: Connection, *, source: str, event_id: str, state: InboundState, error: str | None
) -> bool:
    record = await _q().finish_inbound_event(
        conn, source=source, event_id=event_id, state=state.value, error=error
    )
    return record is not None


async def requeue_inbound_event(
    conn: Connection, *, source: str, event_id: str, job_id: UUID, max_attempts: int
) -> bool:
    record = await _q().requeue_inbound_event(
        conn, source=source, event_id=event_id, job_id=job_id, max_attempts=max_attempts
    )
    return record is not None


async def list_inbound_events(
    conn: Connection, *, state: InboundState, before_id: UUID, source: str | None, limit: int
) -> list[InboundEventOut]:
    if source is None:
        records = _q().list_inbound_events(conn, state=state.value, before_id=before_id, limit=limit)
    else:
        records = _q().list_inbound_events_from_source(
            conn, state=state.value, source=source, before_id=before_id, limit=limit
        )
    return await rows(records, InboundEventOut)


async def count_inbound_events_by_state(conn: Connection) -> dict[str, int]:
    return {record["state"]: record["total"] async for record in _q().count_inbound_events_by_state(conn)}


async def delete_old_inbound_events(conn: Connection, *, state: InboundState, before_id: UUID) -> int:
    """Delete up to 1,000 events in `state` received before `before_id`'s moment; how many went."""
    deleted = _q().delete_old_inbound_events(conn, state=state.value, before_id=before_id)
    return len([row async for row in deleted])
