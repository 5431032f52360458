"""Liveness and readiness, and how the service behaves with PostgreSQL or Redis down.

PostgreSQL down: the app still starts, readiness says 503, and requests needing the database get
503 SERVICE_UNAVAILABLE problems (never 500, never a hang). Redis down only degrades.
"""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from app.core.config import Settings
from app.main import create_app
from tests.factories import Client

CLOSED_DATABASE = "postgresql://postgres@127.0.0.1:1/x"
CLOSED_REDIS = "redis://127.0.0.1:1/0"
LOGIN = {"login": "nobody@example.com", "password": "not-the-password"}


def envelope_data(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) <= {"data", "meta"}
    return body["data"]


def expect_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "SERVICE_UNAVAILABLE"
    assert body["request_id"] == response.headers["x-request-id"]
    assert response.headers.get("retry-after", "").isdigit()
    for leak in ("127.0.0.1", "Connect", "Errno", "asyncpg"):
        assert leak not in response.text


# ---- everything up ------------------------------------------------------------------------------


async def test_live_is_200(client: Client) -> None:
    assert envelope_data(await client.get("/health/live"), 200) == {"status": "ok"}


async def test_ready_is_200_with_database_and_redis_ok(client: Client) -> None:
    data = envelope_data(await client.get("/health/ready"), 200)

    assert data == {"status": "ok", "database": "ok", "redis": "ok"}


@pytest.mark.parametrize("path", ["/health/live", "/health/ready"])
async def test_probes_are_not_cached(client: Client, path: str) -> None:
    response = await client.get(path)

    assert "max-age" not in response.headers.get("cache-control", "")
    assert "etag" not in response.headers


async def test_ready_without_redis_configured_says_disabled(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(redis_url="")
    async with AsyncTestClient(create_app(settings)) as test_client:
        data = envelope_data(await test_client.get("/health/ready"), 200)
    assert data == {"status": "ok", "database": "ok", "redis": "disabled"}


# ---- PostgreSQL down ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def no_database_client(make_settings: Callable[..., Settings]) -> AsyncIterator[Client]:
    settings = make_settings(
        database_url=CLOSED_DATABASE, db_pool_min_size="0", db_pool_acquire_timeout="0.5"
    )
    async with AsyncTestClient(create_app(settings)) as test_client:
        yield test_client


async def test_app_starts_and_is_live_without_database(no_database_client: Client) -> None:
    assert envelope_data(await no_database_client.get("/health/live"), 200) == {"status": "ok"}


async def test_ready_is_503_when_database_is_down(no_database_client: Client) -> None:
    data = envelope_data(await no_database_client.get("/health/ready"), 503)

    assert data["database"] == "down"
    assert data["status"] == "unavailable"
    assert data["redis"] == "ok"


async def test_login_is_503_problem_when_database_is_down(no_database_client: Client) -> None:
    expect_unavailable(await no_database_client.post("/auth/login", json=LOGIN))


async def test_register_is_503_problem_when_database_is_down(no_database_client: Client) -> None:
    body = {"email": "down@example.com", "username": "downuser", "password": "correct horse battery"}

    expect_unavailable(await no_database_client.post("/auth/register", json=body))


async def test_validation_still_answers_422_when_database_is_down(no_database_client: Client) -> None:
    response = await no_database_client.post("/auth/login", json={})

    assert response.status_code == 422


# A database that accepts the TCP connection but never answers (a hung server, a full backlog).
@pytest.fixture(scope="module")
def silent_port() -> Iterator[int]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


@pytest.fixture(scope="module")
async def silent_database_client(
    make_settings: Callable[..., Settings], silent_port: int
) -> AsyncIterator[Client]:
    settings = make_settings(
        database_url=f"postgresql://postgres@127.0.0.1:{silent_port}/x",
        db_pool_min_size="0",
        db_pool_acquire_timeout="0.3",
    )
    async with AsyncTestClient(create_app(settings)) as test_client:
        yield test_client


async def test_hung_database_gives_a_fast_503_not_a_hung_request(silent_database_client: Client) -> None:
    started = time.perf_counter()

    response = await silent_database_client.post("/auth/login", json=LOGIN)

    assert time.perf_counter() - started < 3
    expect_unavailable(response)


async def test_ready_is_503_when_database_hangs(silent_database_client: Client) -> None:
    started = time.perf_counter()

    data = envelope_data(await silent_database_client.get("/health/ready"), 503)

    assert data["database"] == "down"
    assert time.perf_counter() - started < 3


# ---- Redis down ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def no_redis_client(make_settings: Callable[..., Settings]) -> AsyncIterator[Client]:
    async with AsyncTestClient(create_app(make_settings(redis_url=CLOSED_REDIS))) as test_client:
        yield test_client


async def test_ready_is_degraded_when_redis_is_down(no_redis_client: Client) -> None:
    data = envelope_data(await no_redis_client.get("/health/ready"), 200)

    assert data == {"status": "degraded", "database": "ok", "redis": "down"}


async def test_requests_still_work_when_redis_is_down(no_redis_client: Client) -> None:
    response = await no_redis_client.post("/auth/login", json=LOGIN)

    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_CREDENTIALS"
