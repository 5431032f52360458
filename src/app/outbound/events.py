"""Record domain events in the writer's transaction: the outbox of outbound webhooks.

`emit` is called inside the transaction of the change (an item created, a member removed...):
the events exist if and only if the change commits. If an enabled endpoint of the org
subscribes to the type, a `webhooks.fan_out` job per event is queued in the same statement, so
an org without webhooks pays one insert and nothing more.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import msgspec

from app.core.db import Connection, sql
from app.core.ids import new_id
from app.jobs.kinds import WEBHOOK_FAN_OUT
from app.outbound.event_types import EventType

__all__ = ["emit"]


async def emit(conn: Connection, org_id: UUID, event_type: EventType, payloads: Sequence[Any]) -> list[UUID]:
    """One event per payload (a Struct or plain data); returns the event ids."""
    if not payloads:
        return []
    ids = [new_id() for _ in payloads]
    await sql().outbound.insert_domain_events(
        conn,
        org_id=org_id,
        event_type=event_type.value,
        ids=ids,
        payloads=[msgspec.to_builtins(payload) for payload in payloads],
        job_ids=[new_id() for _ in payloads],
        max_attempts=WEBHOOK_FAN_OUT.max_attempts,
    )
    return ids
