"""Faults under a live granian server (issue 8): its own PostgreSQL and Redis (tests/faults/conftest.py)
are stopped and started while it serves; the pool is exhausted; a slow client dribbles headers.

Every error must be an RFC 9457 problem (503 for an unavailable dependency), never a 500 or a hang,
and the same server process must recover without a restart.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from tests.factories import expect_problem, unique
from tests.faults.conftest import Launch, OwnPostgres, OwnRedis, new_tenant

pytestmark = pytest.mark.faults

FAST = 3.0  # seconds: "fails fast" during an outage


@dataclass
class Attempt:
    name: str
    status: int | None  # None: no HTTP answer at all (a transport error)
    seconds: float
    response: httpx.Response | None


async def _create(client: httpx.AsyncClient, path: str, headers: dict[str, str], name: str) -> Attempt:
    began = time.monotonic()
    try:
        response = await client.post(path, json={"name": name}, headers=headers)
    except httpx.TransportError:
        return Attempt(name, None, time.monotonic() - began, None)
    return Attempt(name, response.status_code, time.monotonic() - began, response)


async def test_postgres_restart_during_a_load_burst(launch: Launch, own_postgres: OwnPostgres) -> None:
    server = await launch()
    tenant = await new_tenant(server.base_url)
    path = f"/orgs/{tenant.org_id}/items"
    prefix = unique("burst")
    attempts: list[Attempt] = []
    stop = asyncio.Event()

    async def client_loop(number: int) -> None:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as client:
            i = 0
            while not stop.is_set():
                attempts.append(await _create(client, path, tenant.headers, f"{prefix}-{number}-{i}"))
                i += 1
                await asyncio.sleep(0.02)

    clients = [asyncio.create_task(client_loop(n)) for n in range(12)]
    await asyncio.sleep(0.7)
    await asyncio.to_thread(own_postgres.stop)
    await asyncio.sleep(1.5)  # the outage, under load
    await asyncio.to_thread(own_postgres.start)

    # The same process recovers: creates succeed again without restarting granian.
    recovered_at: float | None = None
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        recent = [a for a in attempts[-12:] if a.status == 201]
        if len(recent) >= 6:
            recovered_at = time.monotonic()
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.gather(*clients)
    assert recovered_at is not None, [a.status for a in attempts[-30:]]
    assert server.process.poll() is None

    statuses = [a.status for a in attempts]
    assert set(statuses) <= {201, 503}, (
        sorted({str(s) for s in statuses}),
        [a.response.text for a in attempts if a.status == 500 and a.response is not None][:2],
        server.stderr()[-4000:],
    )
    assert statuses.count(503) > 0, "the outage was not seen by any request"
    for attempt in attempts:
        assert attempt.seconds < FAST, (attempt.name, attempt.status, attempt.seconds)
        if attempt.status == 503:
            assert attempt.response is not None
            expect_problem(attempt.response, 503, "SERVICE_UNAVAILABLE")

    async with httpx.AsyncClient(base_url=server.base_url, timeout=5.0) as client:
        after = await _create(client, path, tenant.headers, f"{prefix}-after")
        ready = await client.get("/health/ready")
    assert after.status == 201
    assert ready.status_code == 200
    assert ready.json()["data"]["database"] == "ok"

    # No partial writes: exactly the 201s exist, once each, each with its one item.created event.
    created = {a.name for a in attempts if a.status == 201} | {after.name}
    refused = {a.name for a in attempts if a.status != 201}
    conn = await asyncpg.connect(own_postgres.url)
    try:
        items = await conn.fetch(
            "SELECT id::text AS id, name FROM items WHERE org_id = $1::uuid AND name LIKE $2",
            tenant.org_id,
            f"{prefix}-%",
        )
        events = await conn.fetch(
            "SELECT payload->>'id' AS item_id FROM domain_events"
            " WHERE org_id = $1::uuid AND event_type = 'item.created'",
            tenant.org_id,
        )
    finally:
        await conn.close()
    names = [row["name"] for row in items]
    assert len(names) == len(set(names))
    assert set(names) == created
    assert not set(names) & refused
    item_ids = sorted(row["id"] for row in items)
    assert sorted(row["item_id"] for row in events) == item_ids


async def _ready(client: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    response = await client.get("/health/ready")
    return response.status_code, response.json()["data"]


async def test_redis_stopped_then_started_under_a_live_server(launch: Launch, own_redis: OwnRedis) -> None:
    server = await launch()
    tenant = await new_tenant(server.base_url)
    path = f"/orgs/{tenant.org_id}/items"
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as client:
        assert await _ready(client) == (200, {"status": "ok", "database": "ok", "redis": "ok"})

        own_redis.stop()
        # Degraded, not down: readiness stays 200 and names Redis; reads and writes still work.
        began = time.monotonic()
        assert await _ready(client) == (200, {"status": "degraded", "database": "ok", "redis": "down"})
        for i in range(5):
            created = await client.post(path, json={"name": unique(f"redis-{i}")}, headers=tenant.headers)
            assert created.status_code == 201, created.text
            item_id = created.json()["data"]["id"]
            fetched = await client.get(f"{path}/{item_id}", headers=tenant.headers)
            assert fetched.status_code == 200, fetched.text
            listed = await client.get(path, headers=tenant.headers)
            assert listed.status_code == 200, listed.text
        assert time.monotonic() - began < 10 * FAST

        own_redis.start()
        # The same process picks Redis up again.
        deadline = time.monotonic() + 10
        state: tuple[int, dict[str, Any]] = (0, {})
        while time.monotonic() < deadline:
            state = await _ready(client)
            if state[1].get("redis") == "ok":
                break
            await asyncio.sleep(0.2)
        assert state == (200, {"status": "ok", "database": "ok", "redis": "ok"})
        created = await client.post(path, json={"name": unique("redis-back")}, headers=tenant.headers)
        assert created.status_code == 201, created.text
    assert server.process.poll() is None


async def test_an_exhausted_pool_answers_503_within_the_acquire_timeout(
    launch: Launch, own_postgres: OwnPostgres
) -> None:
    server = await launch(DB_POOL_MIN_SIZE="1", DB_POOL_MAX_SIZE="1", DB_POOL_ACQUIRE_TIMEOUT="0.5")
    tenant = await new_tenant(server.base_url)
    path = f"/orgs/{tenant.org_id}/items"
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as client:
        created = await client.post(path, json={"name": unique("pool")}, headers=tenant.headers)
        assert created.status_code == 201, created.text
        item_id = created.json()["data"]["id"]

        # The test's own transaction locks the item's row: the app's PATCH waits on the lock while
        # holding the pool's only connection.
        locker = await asyncpg.connect(own_postgres.url)
        try:
            locking = locker.transaction()
            await locking.start()
            await locker.execute("SELECT 1 FROM items WHERE id = $1::uuid FOR UPDATE", item_id)
            patch = asyncio.create_task(
                client.patch(f"{path}/{item_id}", json={"name": unique("patched")}, headers=tenant.headers)
            )
            deadline = time.monotonic() + 5
            while not await locker.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE application_name = 'app' AND wait_event_type = 'Lock'"
            ):
                assert time.monotonic() < deadline, "the PATCH never reached the lock"
                await asyncio.sleep(0.05)

            async def timed(request: Any) -> tuple[httpx.Response, float]:
                began = time.monotonic()
                response = await request
                return response, time.monotonic() - began

            async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as others:
                results = await asyncio.gather(
                    *(timed(others.get(path, headers=tenant.headers)) for _ in range(8)),
                    *(
                        timed(others.post(path, json={"name": unique("q")}, headers=tenant.headers))
                        for _ in range(4)
                    ),
                )
            for response, seconds in results:
                expect_problem(response, 503, "SERVICE_UNAVAILABLE")
                assert seconds < 2.0, seconds  # about the acquire timeout, never a hang
            await locking.rollback()
        finally:
            await locker.close()

        patched = await patch
        assert patched.status_code == 200, patched.text
        # Afterwards the pool serves again.
        for _ in range(2):
            assert (await client.get(path, headers=tenant.headers)).status_code == 200
        listed = await client.get(path, headers=tenant.headers)
        assert listed.status_code == 200, listed.text
        items = listed.json()["data"]
        # The refused creates wrote nothing.
        assert [item["id"] for item in items] == [item_id]


async def test_a_slow_client_does_not_block_others(launch: Launch) -> None:
    server = await launch()
    stop = asyncio.Event()
    dribbled = [0]

    async def slowloris() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        head = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
        try:
            for byte in head:
                if stop.is_set():
                    break
                writer.write(bytes([byte]))
                await writer.drain()
                dribbled[0] += 1
                await asyncio.sleep(0.3)
        except ConnectionError:
            pass  # the server may drop a client this slow: that is allowed too
        finally:
            writer.close()
            reader.feed_eof()

    slow = [asyncio.create_task(slowloris()) for _ in range(20)]
    await asyncio.sleep(0.5)
    latencies: list[float] = []
    began = time.monotonic()
    while time.monotonic() - began < 3.0:
        # A new connection each time: a fresh client arriving while the slow ones hang on.
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5.0) as client:
            start = time.monotonic()
            response = await client.get("/health/ready")
            latencies.append(time.monotonic() - start)
        assert response.status_code == 200, response.text
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.gather(*slow)
    assert dribbled[0] >= 20 * 5, dribbled  # the slow clients were really dribbling meanwhile
    assert len(latencies) >= 10
    assert max(latencies) < 0.5, latencies
