"""The production entry point under load from several workers: `python -m app.serve` runs granian
with two workers; the metrics port sums what both answered, and a rate limit holds across them
(its buckets live in Redis, not in a worker)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.e2e.test_granian import ROOT, Server, free_port, kill_group, server_env, wait_ready
from tests.factories import DEFAULT_PASSWORD, expect_problem, unique

if TYPE_CHECKING:  # imported by name, pytest would try to collect it as a test class
    from tests.services import TestServices

pytestmark = pytest.mark.e2e

READ_LIMIT = 12
METRICS_TOKEN = "e2e-metrics-token-0123456789"


def start_serve(port: int, env: dict[str, str], tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """`python -m app.serve` with two granian workers, in its own process group."""
    stderr_path = tmp_path / "serve.stderr"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [
                sys.executable,
                *("-m", "app.serve", "--interface", "asgi", "--loop", "uvloop", "--no-ws"),
                *("--workers", "2", "--host", "127.0.0.1", "--port", str(port), "app.main:app"),
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    return process, stderr_path


@pytest.fixture
async def served(
    database_url: str, test_services: TestServices, tmp_path: Path
) -> AsyncIterator[tuple[Server, int]]:
    port, metrics_port = free_port(), free_port()
    env = server_env(
        DATABASE_URL=database_url,
        REDIS_URL=test_services.redis_url,
        METRICS_PORT=str(metrics_port),
        METRICS_TOKEN=METRICS_TOKEN,
        METRICS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        RATE_LIMIT_ENABLED="true",
        RATE_LIMIT_KEY_PREFIX=f"e2e-{unique()}:",
        RATE_LIMIT_READ_REQUESTS=str(READ_LIMIT),
        RATE_LIMIT_AUTH_REQUESTS="1000",
        RATE_LIMIT_WRITE_REQUESTS="1000",
    )
    process, stderr_path = start_serve(port, env, tmp_path)
    server = Server(process, f"http://127.0.0.1:{port}", port, stderr_path)
    try:
        await wait_ready(server)
        yield server, metrics_port
    finally:
        kill_group(process)


def _count(text: str, route: str, status: str) -> float:
    pattern = (
        rf'^app_http_requests_total\{{[^}}]*route="{re.escape(route)}"[^}}]*status="{status}"[^}}]*\}} (\S+)$'
    )
    return sum(float(value) for value in re.findall(pattern, text, re.MULTILINE))


async def test_metrics_sum_the_workers_and_limits_hold_across_them(served: tuple[Server, int]) -> None:
    server, metrics_port = served
    name = unique("srv")
    probes = 40
    # A new connection per request, so granian spreads them over both workers.
    for _ in range(probes):
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5.0) as one_shot:
            assert (await one_shot.get("/health/live")).status_code == 200

    async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as client:
        registered = await client.post(
            "/auth/register",
            json={"email": f"{name}@example.com", "username": name, "password": DEFAULT_PASSWORD},
        )
        assert registered.status_code == 201, registered.text
        login = await client.post("/auth/login", json={"login": name, "password": DEFAULT_PASSWORD})
        headers = {"Authorization": f"Bearer {login.json()['data']['access_token']}"}
    statuses: list[int] = []
    refused: httpx.Response | None = None
    for _ in range(READ_LIMIT + 3):
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5.0) as one_shot:
            response = await one_shot.get("/users/me", headers=headers)
        statuses.append(response.status_code)
        if response.status_code == 429:
            refused = response
    # The bucket is shared: however the requests were spread, exactly the limit got through.
    assert statuses.count(200) == READ_LIMIT, statuses
    assert refused is not None
    expect_problem(refused, 429, "RATE_LIMITED")

    await asyncio.sleep(1.5)  # each worker folds its request counts into the shared files every second
    async with httpx.AsyncClient(timeout=5.0) as scraper:
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        assert (await scraper.get(url)).status_code == 401
        scraped = await scraper.get(url, headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert scraped.status_code == 200, scraped.text
    text = scraped.text
    assert _count(text, "/health/live", "200") == probes, [
        line for line in text.splitlines() if "health/live" in line
    ]
    assert _count(text, "/users/me", "429") >= 1
    assert 'app_rate_limit_rejections_total{group="read",key_kind="user"}' in text
