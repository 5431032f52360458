"""How long handled inbound events are kept: INBOUND_RETENTION_DAYS, purged by worker housekeeping.

Only `processed` and `ignored` events go. A `failed` event stays until an admin retries it (or
deletes it by hand), and a `received` one has not been handled yet.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.core.db import Database
from app.core.ids import first_id_at
from app.inbound import queries
from app.inbound.structs import InboundState

__all__ = ["purge_old_inbound_events"]

HANDLED = (InboundState.PROCESSED, InboundState.IGNORED)


async def purge_old_inbound_events(db: Database, retention_days: int) -> int:
    """Delete up to 1,000 events of each handled state received more than `retention_days` ago."""
    before_id = first_id_at(datetime.now(UTC) - timedelta(days=retention_days))
    deleted = 0
    async with db.connection() as conn:
        for state in HANDLED:
            deleted += await queries.delete_old_inbound_events(conn, state=state, before_id=before_id)
    return deleted
