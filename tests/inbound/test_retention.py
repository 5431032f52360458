"""INBOUND_RETENTION_DAYS: the worker's housekeeping deletes handled inbound events once they are
older than the retention, 1,000 per pass; failed and unhandled events stay."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from app.core.db import Database
from app.core.ids import first_id_at
from app.inbound.retention import purge_old_inbound_events

RETENTION_DAYS = 30
SOURCE = "retention"


def id_at(moment: datetime) -> uuid.UUID:
    """A UUIDv7 made at `moment` (random below its millisecond)."""
    return uuid.UUID(int=first_id_at(moment).int | secrets.randbits(62))


async def insert(db: asyncpg.Pool[Any], rows: list[tuple[str, uuid.UUID, str]]) -> None:
    await db.executemany(
        "INSERT INTO inbound_events (source, event_id, id, event_type, body, state)"
        " VALUES ($1, $2, $3, 'x.y', '{}', $4)",
        [(SOURCE, event_id, id_, state) for event_id, id_, state in rows],
    )


async def remaining(db: asyncpg.Pool[Any], prefix: str) -> dict[str, str]:
    rows = await db.fetch(
        "SELECT event_id, state FROM inbound_events WHERE source = $1 AND event_id LIKE $2",
        SOURCE,
        f"{prefix}%",
    )
    return {row["event_id"]: row["state"] for row in rows}


async def purge_all(database: Database) -> list[int]:
    """Passes until one deletes nothing; the count of each."""
    counts: list[int] = []
    while (count := await purge_old_inbound_events(database, RETENTION_DAYS)) or not counts:
        counts.append(count)
    return counts


async def test_handled_events_past_the_retention_go_and_the_rest_stay(
    db: asyncpg.Pool[Any], database: Database
) -> None:
    prefix = f"evt_{secrets.token_hex(4)}_"
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=RETENTION_DAYS + 1), now - timedelta(days=RETENTION_DAYS - 1)
    await insert(
        db,
        [
            (f"{prefix}old-processed", id_at(old), "processed"),
            (f"{prefix}old-ignored", id_at(old), "ignored"),
            (f"{prefix}old-failed", id_at(old), "failed"),  # an admin may still retry it
            (f"{prefix}old-received", id_at(old), "received"),  # not handled yet
            (f"{prefix}recent-processed", id_at(recent), "processed"),
            (f"{prefix}recent-ignored", id_at(recent), "ignored"),
        ],
    )

    await purge_all(database)

    assert await remaining(db, prefix) == {
        f"{prefix}old-failed": "failed",
        f"{prefix}old-received": "received",
        f"{prefix}recent-processed": "processed",
        f"{prefix}recent-ignored": "ignored",
    }


async def test_a_pass_deletes_at_most_a_thousand(db: asyncpg.Pool[Any], database: Database) -> None:
    prefix = f"evt_{secrets.token_hex(4)}_"
    old = datetime.now(UTC) - timedelta(days=RETENTION_DAYS * 2)
    await insert(db, [(f"{prefix}{n}", id_at(old), "processed") for n in range(1_005)])

    counts = await purge_all(database)

    assert counts[0] == 1_000
    assert sum(counts) >= 1_005  # other tests' old events may go in the same passes
    assert await remaining(db, prefix) == {}
