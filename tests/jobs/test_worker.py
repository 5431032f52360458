"""The job queue with a real worker loop on the test database: outcomes, retries, leases."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from app.core.db import Database
from app.jobs import queries
from app.jobs.kinds import JobSpec
from app.jobs.queue import enqueue
from app.jobs.registry import JobRegistry, PermanentJobError
from app.jobs.structs import ClaimedJob, JobState
from app.jobs.worker import Worker
from tests.jobs.conftest import unique_kind

Handler = Callable[[ClaimedJob], Awaitable[None]]


@asynccontextmanager
async def running_worker(
    database: Database,
    settings_url: str,
    handlers: dict[JobSpec, Handler],
    on_dead: Any = None,
    **options: Any,
) -> AsyncIterator[Worker]:
    registry = JobRegistry()
    for spec, handler in handlers.items():
        registry.register(spec, handler, on_dead=on_dead)
    worker = Worker(
        db=database,
        database_url=settings_url,
        registry=registry,
        poll_seconds=options.pop("poll_seconds", 0.2),
        lease_seconds=options.pop("lease_seconds", 60),
        **options,
    )
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        worker.stop()
        await asyncio.wait_for(task, 30)


async def queue(database: Database, spec: JobSpec, payload: dict[str, Any] | None = None) -> uuid.UUID:
    async with database.transaction() as conn:
        return await enqueue(conn, spec, payload or {})


async def job_state(db: asyncpg.Pool[Any], job_id: uuid.UUID) -> asyncpg.Record:
    row = await db.fetchrow("SELECT state, attempts, last_error, run_at FROM jobs WHERE id = $1", job_id)
    assert row is not None
    return row


async def wait_for_state(
    db: asyncpg.Pool[Any], job_id: uuid.UUID, state: str, within: float = 15
) -> asyncpg.Record:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        row = await job_state(db, job_id)
        if row["state"] == state:
            return row
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"job {job_id} is {dict(row)}, not {state}")
        await asyncio.sleep(0.05)


async def test_a_queued_job_runs_once_and_succeeds(
    database: Database, database_url: str, db: asyncpg.Pool[Any]
) -> None:
    spec = unique_kind()
    seen: list[dict[str, Any]] = []

    async def handler(job: ClaimedJob) -> None:
        seen.append(job.payload)

    async with running_worker(database, database_url, {spec: handler}):
        job_id = await queue(database, spec, {"n": 1})
        row = await wait_for_state(db, job_id, "succeeded")
    assert seen == [{"n": 1}]
    assert row["attempts"] == 1


async def test_notify_wakes_an_idle_worker_long_before_its_poll(
    database: Database, database_url: str, db: asyncpg.Pool[Any]
) -> None:
    spec = unique_kind()
    done = asyncio.Event()

    async def handler(job: ClaimedJob) -> None:
        done.set()

    async with running_worker(database, database_url, {spec: handler}, poll_seconds=30):
        await asyncio.sleep(0.3)  # the worker is idle, waiting for up to 30 s
        await queue(database, spec)
        await asyncio.wait_for(done.wait(), 5)


async def test_a_rolled_back_transaction_queues_nothing(database: Database, db: asyncpg.Pool[Any]) -> None:
    spec = unique_kind()

    async def failing_change() -> None:
        async with database.transaction() as conn:
            await enqueue(conn, spec, {})
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        await failing_change()
    assert await db.fetchval("SELECT count(*) FROM jobs WHERE kind = $1", spec.name) == 0


async def test_failures_are_retried_with_backoff_then_the_job_is_dead(
    database: Database, database_url: str, db: asyncpg.Pool[Any]
) -> None:
    spec = unique_kind(max_attempts=3, backoff_base_seconds=0.2, backoff_cap_seconds=0.4)
    attempts: list[int] = []

    async def handler(job: ClaimedJob) -> None:
        attempts.append(job.attempts)
        raise ValueError(f"broken on attempt {job.attempts}")

    async with running_worker(database, database_url, {spec: handler}):
        job_id = await queue(database, spec)
        row = await wait_for_state(db, job_id, "dead")
    assert attempts == [1, 2, 3]
    assert row["attempts"] == 3
    assert "ValueError: broken on attempt 3" in row["last_error"]


async def test_a_retry_waits_for_its_backoff(
    database: Database, database_url: str, db: asyncpg.Pool[Any]
) -> None:
    spec = unique_kind(max_attempts=2, backoff_base_seconds=60)

    async def handler(job: ClaimedJob) -> None:
        raise ValueError("later")

    async with running_worker(database, database_url, {spec: handler}):
        job_id = await queue(database, spec)
        deadline = asyncio.get_running_loop().time() + 10
        while (row := await job_state(db, job_id))["attempts"] == 0:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        row = await job_state(db, job_id)
    assert row["state"] == "queued"
    wait = await db.fetchval("SELECT extract(epoch FROM run_at - now()) FROM jobs WHERE id = $1", job_id)
    assert 25 < wait <= 60  # between half and all of the 60 s nominal delay


def test_the_backoff_doubles_up_to_its_cap_with_jitter() -> None:
    spec = JobSpec("test.backoff", backoff_base_seconds=5, backoff_cap_seconds=60)
    for attempt, nominal in [(1, 5), (2, 10), (3, 20), (4, 40), (5, 60), (9, 60)]:
        delays = {spec.retry_delay(attempt).total_seconds() for _ in range(50)}
        assert all(nominal / 2 <= d <= nominal for d in delays), (attempt, delays)
        assert len(delays) > 1, "no jitter"


async def test_a_permanent_failure_is_dead_at_once(
    database: Database, database_url: str, db: asyncpg.Pool[Any]
) -> None:
    spec = unique_kind(max_attempts=5)

    async def handler(job: ClaimedJob) -> None:
        raise PermanentJobError("the payload names nothing that exists")

    async with running_worker(database, database_url, {spec: handler}):
        job_id = await queue(database, spec)
        row = await wait_for_state(db, job_id, "dead")
    assert row["attempts"] == 1
    assert "names nothing" in row["last_error"]


async def test_a_job_over_its_timeout_counts_as_a_failed_attempt(
    database: Database, database_url: str, db: asyncpg.Pool[Any]
) -> None:
    spec = unique_kind(max_attempts=1, timeout_seconds=0.2)

    async def handler(job: ClaimedJob) -> None:
        await asyncio.sleep(5)

    async with running_worker(database, database_url, {spec: handler}):
        job_id = await queue(database, spec)
        row = await wait_for_state(db, job_id, "dead")
    assert "timed out after 0.2 s" in row["last_error"]


async def test_two_workers_run_each_of_many_jobs_exactly_once(
    database: Database, database_url: str, db: asyncpg.Pool[Any]
) -> None:
    spec = unique_kind()
    runs: Counter[int] = Counter()

    async def handler(job: ClaimedJob) -> None:
        runs[job.payload["n"]] += 1
        await asyncio.sleep(0.001)

    async with database.transaction() as conn:
        ids = [await enqueue(conn, spec, {"n": n}) for n in range(300)]
    async with (
        running_worker(database, database_url, {spec: handler}, name="a", concurrency=4),
        running_worker(database, database_url, {spec: handler}, name="b", concurrency=4),
    ):
        for job_id in ids:
            await wait_for_state(db, job_id, "succeeded", within=60)
    assert runs == Counter(range(300))
    by_worker = await db.fetch("SELECT count(*) FROM jobs WHERE kind = $1 AND state = 'succeeded'", spec.name)
    assert by_worker[0]["count"] == 300


async def test_a_late_report_from_a_lost_lease_is_refused(database: Database, db: asyncpg.Pool[Any]) -> None:
    spec = unique_kind()
    job_id = await queue(database, spec)
    async with database.connection() as conn:
        [first] = await queries.claim_jobs(conn, kinds=[spec.name], limit=1, worker="slow", lease_seconds=30)
        await conn.execute(
            "UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1", job_id
        )
        reclaimed = await queries.reclaim_expired_jobs(conn, limit=100)
        assert {row["id"] for row in reclaimed} >= {job_id}
        [second] = await queries.claim_jobs(conn, kinds=[spec.name], limit=1, worker="fast", lease_seconds=30)
        assert second.attempts == 2

        assert not await queries.complete_job(conn, id=job_id, lease_token=first.lease_token)
        assert await queries.complete_job(conn, id=job_id, lease_token=second.lease_token)
    assert (await job_state(db, job_id))["state"] == "succeeded"


async def test_an_expired_lease_on_the_last_attempt_buries_the_job(
    database: Database, db: asyncpg.Pool[Any]
) -> None:
    spec = unique_kind(max_attempts=1)
    job_id = await queue(database, spec)
    async with database.connection() as conn:
        await queries.claim_jobs(conn, kinds=[spec.name], limit=1, worker="w", lease_seconds=30)
        await conn.execute(
            "UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1", job_id
        )
        await queries.reclaim_expired_jobs(conn, limit=100)
    row = await job_state(db, job_id)
    assert row["state"] == "dead"
    assert "lease expired" in row["last_error"]


async def test_shutdown_releases_a_running_job_without_counting_the_attempt(
    database: Database, database_url: str, db: asyncpg.Pool[Any]
) -> None:
    spec = unique_kind()
    started = asyncio.Event()

    async def handler(job: ClaimedJob) -> None:
        started.set()
        await asyncio.sleep(30)

    async with running_worker(database, database_url, {spec: handler}, shutdown_grace_seconds=0.2):
        job_id = await queue(database, spec)
        await asyncio.wait_for(started.wait(), 10)
    row = await job_state(db, job_id)
    assert row["state"] == "queued"
    assert row["attempts"] == 0


async def test_shutdown_lets_a_short_job_finish(
    database: Database, database_url: str, db: asyncpg.Pool[Any]
) -> None:
    spec = unique_kind()
    started = asyncio.Event()

    async def handler(job: ClaimedJob) -> None:
        started.set()
        await asyncio.sleep(0.3)

    async with running_worker(database, database_url, {spec: handler}, shutdown_grace_seconds=5):
        job_id = await queue(database, spec)
        await asyncio.wait_for(started.wait(), 10)
    assert (await job_state(db, job_id))["state"] == "succeeded"


async def test_a_worker_does_not_claim_kinds_it_cannot_run(
    database: Database, database_url: str, db: asyncpg.Pool[Any]
) -> None:
    known, unknown = unique_kind(), unique_kind()

    async def handler(job: ClaimedJob) -> None:
        return None

    async with running_worker(database, database_url, {known: handler}):
        other = await queue(database, unknown)
        mine = await queue(database, known)
        await wait_for_state(db, mine, "succeeded")
    assert (await job_state(db, other))["state"] == "queued"


async def test_finished_jobs_are_purged_after_the_retention(
    database: Database, db: asyncpg.Pool[Any]
) -> None:
    spec = unique_kind()
    old, recent = await queue(database, spec), await queue(database, spec)
    await db.execute(
        "UPDATE jobs SET state = 'succeeded', finished_at = now() - interval '8 days' WHERE id = $1", old
    )
    await db.execute("UPDATE jobs SET state = 'succeeded', finished_at = now() WHERE id = $1", recent)
    async with database.connection() as conn:
        await queries.delete_finished_jobs(
            conn, before=await conn.fetchval("SELECT now()") - timedelta(days=7)
        )
    assert await db.fetchval("SELECT count(*) FROM jobs WHERE id = any($1::uuid[])", [old, recent]) == 1


async def test_the_heartbeat_keeps_a_long_job_leased(
    database: Database, database_url: str, db: asyncpg.Pool[Any]
) -> None:
    spec = unique_kind(timeout_seconds=10)
    runs: list[int] = []

    async def handler(job: ClaimedJob) -> None:
        runs.append(job.attempts)
        await asyncio.sleep(4)  # longer than the lease: only renewals keep it

    async with running_worker(database, database_url, {spec: handler}, lease_seconds=3):
        job_id = await queue(database, spec)
        await wait_for_state(db, job_id, "succeeded")
        async with database.connection() as conn:
            assert await queries.reclaim_expired_jobs(conn, limit=100) == []
    assert runs == [1]


async def test_admin_state_counts_and_revive(database: Database, db: asyncpg.Pool[Any]) -> None:
    spec = unique_kind()
    job_id = await queue(database, spec)
    await db.execute(
        "UPDATE jobs SET state = 'dead', attempts = 8, finished_at = now() WHERE id = $1", job_id
    )
    async with database.connection() as conn:
        counts = await queries.count_jobs_by_state(conn)
        assert counts.get(JobState.DEAD, 0) >= 1
        assert await queries.revive_job(conn, id=job_id)
        assert not await queries.revive_job(conn, id=job_id)  # only dead jobs
    row = await job_state(db, job_id)
    assert (row["state"], row["attempts"]) == ("queued", 0)


async def test_the_on_dead_hook_runs_once_for_every_way_a_job_dies(
    database: Database, database_url: str, db: asyncpg.Pool[Any]
) -> None:
    spec = unique_kind(max_attempts=1, timeout_seconds=0.2)
    buried: list[tuple[str, str]] = []

    async def on_dead(payload: dict[str, Any], error: str) -> None:
        buried.append((payload["how"], error))

    async def handler(job: ClaimedJob) -> None:
        if job.payload["how"] == "permanent":
            raise PermanentJobError("no such thing")
        if job.payload["how"] == "timeout":
            await asyncio.sleep(5)
        raise ValueError("broken")

    lost = await queue(database, spec, {"how": "lease"})
    async with database.connection() as conn:  # a worker that claimed it, then died
        await queries.claim_jobs(conn, kinds=[spec.name], limit=1, worker="gone", lease_seconds=30)
        await conn.execute(
            "UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1", lost
        )
    async with running_worker(database, database_url, {spec: handler}, on_dead=on_dead):
        ids = [await queue(database, spec, {"how": how}) for how in ("permanent", "timeout", "error")]
        for job_id in [*ids, lost]:
            await wait_for_state(db, job_id, "dead")
        await asyncio.sleep(0.3)
    assert sorted(how for how, _ in buried) == ["error", "lease", "permanent", "timeout"]
    errors = dict(buried)
    assert "no such thing" in errors["permanent"]
    assert "timed out" in errors["timeout"]
    assert "lease expired" in errors["lease"]
