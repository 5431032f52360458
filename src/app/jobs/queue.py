"""Queue a job inside the caller's transaction: it exists, and wakes a worker, only on commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from app.core.db import Connection
from app.core.ids import new_id
from app.jobs import queries
from app.jobs.kinds import JobSpec

__all__ = ["enqueue"]


async def enqueue(
    conn: Connection, spec: JobSpec, payload: dict[str, Any], *, run_at: datetime | None = None
) -> UUID:
    job_id = new_id()
    await queries.enqueue_job(
        conn, id=job_id, kind=spec.name, payload=payload, max_attempts=spec.max_attempts, run_at=run_at
    )
    return job_id
