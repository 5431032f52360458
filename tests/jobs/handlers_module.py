"""A job kind for the worker-process tests, loaded by `python -m app.worker` through
JOB_HANDLER_MODULES=tests.jobs.handlers_module (the extension point forks use)."""

from __future__ import annotations

import asyncio

from app.jobs.kinds import JobSpec
from app.jobs.structs import ClaimedJob
from app.worker import WorkerContext

# Its timeout is longer than the tests' 4 s lease: the heartbeat keeps the lease alive.
SLOW = JobSpec("test.slow", max_attempts=3, timeout_seconds=20.0, backoff_base_seconds=0.5)
RUNS_TABLE = """CREATE TABLE IF NOT EXISTS job_test_runs (
    job_id uuid NOT NULL, attempt integer NOT NULL, phase text NOT NULL, at timestamptz NOT NULL DEFAULT now()
)"""


def register(context: WorkerContext) -> None:
    async def slow(job: ClaimedJob) -> None:
        async with context.db.connection() as conn:
            await conn.execute(
                "INSERT INTO job_test_runs (job_id, attempt, phase) VALUES ($1, $2, 'started')",
                job.id,
                job.attempts,
            )
        await asyncio.sleep(float(job.payload["sleep"]))
        async with context.db.connection() as conn:
            await conn.execute(
                "INSERT INTO job_test_runs (job_id, attempt, phase) VALUES ($1, $2, 'done')",
                job.id,
                job.attempts,
            )

    context.jobs.register(SLOW, slow)
