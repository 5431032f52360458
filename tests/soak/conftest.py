"""The soak's world: its own database, `python -m app.serve` with two granian workers, the job
worker, and a local receiver for outbound webhooks. Redis is the test run's, under a key prefix
of the soak's own.

How long and how hard, from the environment (`just soak` sets the long run):
SOAK_SECONDS (30), SOAK_RATE requests/s (100), SOAK_P99_MS (500) and SOAK_RSS_MARGIN_MIB (16).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.test_granian import ROOT, Server, free_port, kill_group, server_env, wait_ready
from tests.e2e.test_serve_protection import start_serve
from tests.factories import unique
from tests.services import TestServices, fresh_database
from tests.soak.resources import children_of
from tests.soak.traffic import INBOUND_SECRET, INBOUND_SOURCE

GRANIAN_WORKERS = 2
DB_POOL_MAX_SIZE = 8


@dataclass(frozen=True)
class SoakPlan:
    seconds: float
    rate: float  # requests started per second, whatever the answers' pace
    p99_ms: float  # bound on the 99th percentile latency (from each request's due time)
    rss_margin_mib: float  # bound on each process's memory drift after the warm-up

    @property
    def warmup(self) -> float:
        """Memory and connection trends are judged after this: caches and pools fill first."""
        return min(60.0, self.seconds / 3)

    @classmethod
    def from_env(cls) -> SoakPlan:
        def number(name: str, default: float) -> float:
            return float(os.environ.get(name) or default)

        return cls(
            seconds=number("SOAK_SECONDS", 30),
            rate=number("SOAK_RATE", 100),
            p99_ms=number("SOAK_P99_MS", 500),
            rss_margin_mib=number("SOAK_RSS_MARGIN_MIB", 16),
        )


@pytest.fixture(scope="package")
def plan() -> SoakPlan:
    return SoakPlan.from_env()


@pytest.fixture(scope="package")
async def soak_database(test_services: TestServices) -> AsyncIterator[str]:
    """A database of the soak's own: its connection count and job queue are the soak's alone."""
    async with fresh_database(test_services.postgres_admin_url, "app_soak") as url:
        yield url


@pytest.fixture
def soak_env(soak_database: str, test_services: TestServices, tmp_path: Path) -> dict[str, str]:
    """Production-like settings: rate limits and metrics on (limits far above the load)."""
    return server_env(
        DATABASE_URL=soak_database,
        REDIS_URL=test_services.redis_url,
        RATE_LIMIT_ENABLED="true",
        RATE_LIMIT_KEY_PREFIX=f"soak-{unique()}:",
        **{f"RATE_LIMIT_{group}_REQUESTS": "100000000" for group in ("AUTH", "READ", "WRITE", "WEBHOOKS")},
        METRICS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        # Pools open every connection at start: a count that moves afterwards is a leak, not growth.
        DB_POOL_MIN_SIZE=str(DB_POOL_MAX_SIZE),
        DB_POOL_MAX_SIZE=str(DB_POOL_MAX_SIZE),
        **{f"WEBHOOK_SECRET_{INBOUND_SOURCE.upper()}": INBOUND_SECRET},
        WEBHOOK_ALLOW_LOOPBACK="true",
        # argon2 at production memory (64 MiB): below glibc's 32 MiB mmap-threshold ceiling a freed
        # hash block stays resident per hashing thread, which the memory check would see as steps.
        # One pass instead of three keeps the sign-ins' CPU affordable on a 2-core machine.
        ARGON2_MEMORY_KIB="65536",
        ARGON2_TIME_COST="1",
        WORKER_POLL_SECONDS="0.5",
    )


@dataclass
class Fleet:
    server: Server
    worker: subprocess.Popen[bytes]
    worker_log: Path

    def granian_workers(self) -> list[int]:
        return children_of(self.server.process.pid)


def start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """`python -m app.worker` in its own process group, its output in `log_path`."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "app.worker"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@pytest.fixture
async def fleet(soak_env: dict[str, str], tmp_path: Path) -> AsyncIterator[Fleet]:
    port = free_port()
    process, stderr_path = start_serve(port, soak_env, tmp_path)
    server = Server(process, f"http://127.0.0.1:{port}", port, stderr_path)
    worker_log = tmp_path / "worker.log"
    worker = start_worker(soak_env, worker_log)
    try:
        await wait_ready(server)
        yield Fleet(server, worker, worker_log)
    finally:
        kill_group(process)
        kill_group(worker)
