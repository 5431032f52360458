"""Events and jobs live in PostgreSQL only: flushing or losing Redis mid-run loses nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import asyncpg
import redis.asyncio as redis_asyncio
from litestar.testing import AsyncTestClient

from app.core.config import Settings
from app.main import create_app
from tests.inbound.conftest import SHOP_SECRET, event, sign
from tests.inbound.test_processing import wait_until_settled
from tests.workers import service_worker

if TYPE_CHECKING:  # imported by name, pytest would try to collect it as a test class
    from tests.services import TestServices

FLUSHED_DB = 14  # a Redis database of its own: flushing it disturbs no other test


def settings_with_redis(make_settings: Callable[..., Settings], redis_url: str) -> Settings:
    return make_settings(redis_url=redis_url, webhook_secret_shop=SHOP_SECRET)


async def deliver_all(client: AsyncTestClient[Any], bodies: list[bytes]) -> list[int]:
    async def one(body: bytes) -> int:
        response = await client.post(
            "/webhooks/shop", content=body, headers={"Webhook-Signature": sign(SHOP_SECRET, body)}
        )
        return response.status_code

    return list(await asyncio.gather(*(one(body) for body in bodies)))


async def test_flushing_redis_during_a_burst_loses_no_event_or_job(
    make_settings: Callable[..., Settings], test_services: TestServices, db: asyncpg.Pool[Any]
) -> None:
    redis_url = test_services.redis_url.rsplit("/", 1)[0] + f"/{FLUSHED_DB}"
    settings = settings_with_redis(make_settings, redis_url)
    bodies = [event("order.flushed", n=n) for n in range(200)]
    ids = [json.loads(body)["id"] for body in bodies]
    flusher = redis_asyncio.Redis.from_url(redis_url)
    try:
        async with AsyncTestClient(create_app(settings)) as client, service_worker(settings, name="w-flush"):
            first = deliver_all(client, bodies[:100])
            await asyncio.sleep(0)
            await flusher.flushdb()
            statuses = await first + await deliver_all(client, bodies[100:])
            await flusher.flushdb()
            states = await wait_until_settled(db, ids)
    finally:
        await flusher.aclose()
    assert statuses.count(202) == 200
    assert len(states) == 200
    assert set(states.values()) == {"ignored"}  # processed: no handler for this type


async def test_without_redis_events_are_stored_and_processed(
    make_settings: Callable[..., Settings], db: asyncpg.Pool[Any]
) -> None:
    settings = settings_with_redis(make_settings, "redis://127.0.0.1:1/0")  # nothing listens there
    bodies = [event("order.no_redis", n=n) for n in range(50)]
    ids = [json.loads(body)["id"] for body in bodies]
    async with AsyncTestClient(create_app(settings)) as client, service_worker(settings, name="w-noredis"):
        statuses = await deliver_all(client, bodies)
        states = await wait_until_settled(db, ids)
    assert statuses == [202] * 50
    assert set(states.values()) == {"ignored"}
