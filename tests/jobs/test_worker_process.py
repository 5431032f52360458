"""`python -m app.worker` as a real process: killed mid-job, stopped gracefully."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from app.core.db import Database
from app.jobs.queue import enqueue
from tests.jobs.handlers_module import RUNS_TABLE, SLOW

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def runs_table(db: asyncpg.Pool[Any]) -> None:
    await db.execute(RUNS_TABLE)


@contextmanager
def worker_process(
    database_url: str, tmp_path: Path, name: str, **settings: str
) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "WORKER_", "JOB_"))},
        "DATABASE_URL": database_url,
        "ENVIRONMENT": "test",
        "SECRET_KEY": "worker-test-secret-key-0123456789abcdef",
        "LOG_LEVEL": "INFO",
        "JOB_HANDLER_MODULES": "tests.jobs.handlers_module",
        "JOB_LEASE_SECONDS": "4",
        "WORKER_POLL_SECONDS": "0.5",
        "PYTHONPATH": str(ROOT),
        **settings,
    }
    log = (tmp_path / f"{name}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.worker"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        log.close()


async def runs(db: asyncpg.Pool[Any], job_id: uuid.UUID, phase: str) -> list[int]:
    rows = await db.fetch(
        "SELECT attempt FROM job_test_runs WHERE job_id = $1 AND phase = $2 ORDER BY at", job_id, phase
    )
    return [row["attempt"] for row in rows]


async def wait_for(condition: Any, within: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def queue_slow(settings_db: Database, seconds: float) -> uuid.UUID:
    async with settings_db.transaction() as conn:
        return await enqueue(conn, SLOW, {"sleep": seconds})


@pytest.mark.usefixtures("runs_table")
async def test_a_job_whose_worker_was_killed_completes_once_after_its_lease(
    database: Database, database_url: str, db: asyncpg.Pool[Any], tmp_path: Path
) -> None:
    job_id = await queue_slow(database, 3)
    with worker_process(database_url, tmp_path, "first") as first:
        await wait_for(lambda: _has(db, job_id, "started"), 20, "the first worker to start the job")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert await runs(db, job_id, "done") == []

    with worker_process(database_url, tmp_path, "second"):
        await wait_for(lambda: _has(db, job_id, "done"), 30, "the job to complete after its lease")
        await wait_for(lambda: _state_is(db, job_id, "succeeded"), 10, "the job to be marked succeeded")

    assert await runs(db, job_id, "started") == [1, 2]
    assert await runs(db, job_id, "done") == [2]
    assert await db.fetchval("SELECT attempts FROM jobs WHERE id = $1", job_id) == 2


@pytest.mark.usefixtures("runs_table")
async def test_sigterm_gives_a_long_job_back_and_exits(
    database: Database, database_url: str, db: asyncpg.Pool[Any], tmp_path: Path
) -> None:
    job_id = await queue_slow(database, 7)
    with worker_process(database_url, tmp_path, "graceful", WORKER_SHUTDOWN_GRACE_SECONDS="0.5") as worker:
        await wait_for(lambda: _has(db, job_id, "started"), 20, "the worker to start the job")
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 15) == 0
    row = await db.fetchrow("SELECT state, attempts FROM jobs WHERE id = $1", job_id)
    assert row is not None
    assert (row["state"], row["attempts"]) == ("queued", 0)
    assert await runs(db, job_id, "done") == []


async def _has(db: asyncpg.Pool[Any], job_id: uuid.UUID, phase: str) -> bool:
    return bool(await runs(db, job_id, phase))


async def _state_is(db: asyncpg.Pool[Any], job_id: uuid.UUID, state: str) -> bool:
    return await db.fetchval("SELECT state FROM jobs WHERE id = $1", job_id) == state
