"""Typed functions over the named SQL in `sql/jobs/`: the only place the queue runs SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from app.core.db import Connection, row_or_none, rows, sql
from app.jobs.structs import ClaimedJob, JobOut, JobState


def _q():  # noqa: ANN202 - aiosql namespace, dynamically typed
    return sql().jobs


async def enqueue_job(
    conn: Connection,
    *,
    id: UUID,  # noqa: A002
    kind: str,
    payload: dict[str, Any],
    max_attempts: int,
    run_at: datetime | None,
) -> None:
    await _q().enqueue_job(conn, id=id, kind=kind, payload=payload, max_attempts=max_attempts, run_at=run_at)


async def claim_jobs(
    conn: Connection, *, kinds: list[str], limit: int, worker: str, lease_seconds: float
) -> list[ClaimedJob]:
    records = _q().claim_jobs(conn, kinds=kinds, limit=limit, worker=worker, lease_seconds=lease_seconds)
    return await rows(records, ClaimedJob)


async def reclaim_expired_jobs(conn: Connection, *, limit: int) -> list[dict[str, Any]]:
    return [dict(record) async for record in _q().reclaim_expired_jobs(conn, limit=limit)]


async def complete_job(conn: Connection, *, id: UUID, lease_token: UUID) -> bool:  # noqa: A002
    return await _q().complete_job(conn, id=id, lease_token=lease_token) is not None


async def fail_job(
    conn: Connection,
    *,
    id: UUID,  # noqa: A002
    lease_token: UUID,
    error: str,
    dead: bool,
    retry_at: datetime,
) -> bool:
    record = await _q().fail_job(
        conn, id=id, lease_token=lease_token, error=error, dead=dead, retry_at=retry_at
    )
    return record is not None


async def release_job(conn: Connection, *, id: UUID, lease_token: UUID) -> bool:  # noqa: A002
    return await _q().release_job(conn, id=id, lease_token=lease_token) is not None


async def extend_job_leases(
    conn: Connection, *, ids: list[UUID], lease_tokens: list[UUID], lease_seconds: float
) -> int:
    records = _q().extend_job_leases(conn, ids=ids, lease_tokens=lease_tokens, lease_seconds=lease_seconds)
    return len([record async for record in records])


async def get_job(conn: Connection, *, id: UUID) -> JobOut | None:  # noqa: A002
    return row_or_none(await _q().get_job(conn, id=id), JobOut)


async def list_jobs(
    conn: Connection, *, state: JobState, before_id: UUID, kind: str | None, limit: int
) -> list[JobOut]:
    if kind is None:
        return await rows(_q().list_jobs(conn, state=state.value, before_id=before_id, limit=limit), JobOut)
    records = _q().list_jobs_of_kind(conn, state=state.value, kind=kind, before_id=before_id, limit=limit)
    return await rows(records, JobOut)


async def count_jobs_by_state(conn: Connection) -> dict[str, int]:
    return {record["state"]: record["total"] async for record in _q().count_jobs_by_state(conn)}


async def count_dead_jobs(conn: Connection) -> int:
    return await _q().count_dead_jobs(conn)


async def revive_job(conn: Connection, *, id: UUID) -> bool:  # noqa: A002
    return await _q().revive_job(conn, id=id) is not None


async def delete_finished_jobs(conn: Connection, *, before: datetime) -> int:
    """Deletes at most 1,000 jobs; returns how many."""
    return len([record async for record in _q().delete_finished_jobs(conn, before=before)])
