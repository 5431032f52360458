"""The worker runs inbound events: handler and mark in one transaction, each event once."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import asyncpg
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.core.config import Settings
from app.core.db import Connection
from app.inbound.structs import InboundEvent
from app.worker import WorkerContext
from tests.inbound.conftest import SHOP_SECRET, event, sign
from tests.workers import service_worker

Client = AsyncTestClient[Litestar]


async def deliver(client: Client, body: bytes) -> int:
    response = await client.post(
        "/webhooks/shop", content=body, headers={"Webhook-Signature": sign(SHOP_SECRET, body)}
    )
    return response.status_code


async def wait_until_settled(
    db: asyncpg.Pool[Any], event_ids: list[str], within: float = 60
) -> dict[str, str]:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        rows = await db.fetch(
            "SELECT event_id, state FROM inbound_events WHERE source = 'shop' AND event_id = any($1::text[])",
            event_ids,
        )
        states = {row["event_id"]: row["state"] for row in rows}
        if all(state != "received" for state in states.values()) and len(states) == len(set(event_ids)):
            return states
        assert asyncio.get_running_loop().time() < deadline, Counter(states.values())
        await asyncio.sleep(0.1)


async def test_a_thousand_deliveries_with_duplicates_are_each_handled_once_by_concurrent_workers(
    inbound_client: Client, inbound_settings: Settings, db: asyncpg.Pool[Any]
) -> None:
    await db.execute("CREATE TABLE IF NOT EXISTS inbound_test_effects (event_id text PRIMARY KEY)")
    calls: Counter[str] = Counter()

    async def on_order(conn: Connection, received: InboundEvent) -> None:
        calls[received.event_id] += 1
        await conn.execute("INSERT INTO inbound_test_effects (event_id) VALUES ($1)", received.event_id)

    def setup(context: WorkerContext) -> None:
        context.inbound.register("order.created", on_order, source="shop")

    bodies = [event("order.created", n=n) for n in range(900)]
    deliveries = bodies + bodies[::9]  # 1,000 deliveries: 900 events, 100 of them sent twice
    assert len(deliveries) == 1000
    limit = asyncio.Semaphore(50)

    async def deliver_limited(body: bytes) -> int:
        async with limit:
            return await deliver(inbound_client, body)

    ids = [json.loads(body)["id"] for body in bodies]
    async with (
        service_worker(inbound_settings, name="w1", setup=setup),
        service_worker(inbound_settings, name="w2", setup=setup),
    ):
        statuses = await asyncio.gather(*(deliver_limited(body) for body in deliveries))
        states = await wait_until_settled(db, ids)

    assert Counter(statuses) == {202: 900, 200: 100}
    assert set(states.values()) == {"processed"}
    assert calls == Counter(ids)
    assert await db.fetchval("SELECT count(*) FROM inbound_test_effects WHERE event_id = any($1)", ids) == 900


async def test_an_event_type_without_a_handler_is_ignored_not_failed(
    inbound_client: Client, inbound_settings: Settings, db: asyncpg.Pool[Any]
) -> None:
    body = event("something.nobody.handles")
    event_id = json.loads(body)["id"]
    async with service_worker(inbound_settings, name="w-ignore"):
        assert await deliver(inbound_client, body) == 202
        states = await wait_until_settled(db, [event_id])
    assert states == {event_id: "ignored"}


async def test_a_handler_failing_every_attempt_leaves_the_event_failed(
    inbound_client: Client, inbound_settings: Settings, db: asyncpg.Pool[Any]
) -> None:
    body = event("order.broken")
    event_id = json.loads(body)["id"]

    async def broken(conn: Connection, received: InboundEvent) -> None:
        raise RuntimeError("downstream refused the order")

    def setup(context: WorkerContext) -> None:
        context.inbound.register("order.broken", broken)

    assert await deliver(inbound_client, body) == 202
    # Make the last attempt the only one: no waiting through the real backoff in a test.
    await db.execute(
        "UPDATE jobs SET max_attempts = 1 WHERE kind = 'inbound.process' AND payload->>'event_id' = $1",
        event_id,
    )
    async with service_worker(inbound_settings, name="w-fail", setup=setup):
        states = await wait_until_settled(db, [event_id])
    assert states == {event_id: "failed"}
    error = await db.fetchval("SELECT last_error FROM inbound_events WHERE event_id = $1", event_id)
    assert "downstream refused the order" in error
    job_state = await db.fetchval("SELECT state FROM jobs WHERE payload->>'event_id' = $1", event_id)
    assert job_state == "dead"
