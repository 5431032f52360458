"""Outbound webhooks end to end: a write records its event, the worker delivers it, signed."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.core.config import Settings
from app.main import create_app
from app.webhooks.signing import SignatureError, verify_signature
from tests.factories import User, signed_in_user
from tests.outbound.receiver import Receiver
from tests.workers import service_worker

Client = AsyncTestClient[Litestar]
SECRET = "whsec_test_" + "x" * 32


@pytest.fixture(scope="module")
def loopback_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(webhook_allow_loopback="true", worker_poll_seconds="0.2")


@pytest.fixture(scope="module")
async def hook_client(loopback_settings: Settings) -> AsyncIterator[Client]:
    async with AsyncTestClient(create_app(loopback_settings)) as client:
        yield client


async def org_of(client: Client, owner: User) -> str:
    response = await client.post(
        "/orgs", json={"name": "Hooks", "slug": f"hooks-{uuid.uuid4().hex[:8]}"}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    return response.json()["data"]["id"]


async def endpoint(db: asyncpg.Pool[Any], org_id: str, url: str, types: list[str]) -> uuid.UUID:
    endpoint_id = uuid.uuid4()
    await db.execute(
        "INSERT INTO webhook_endpoints (org_id, id, url, event_types, secret) VALUES ($1, $2, $3, $4, $5)",
        uuid.UUID(org_id),
        endpoint_id,
        url,
        types,
        SECRET,
    )
    return endpoint_id


async def create_item(client: Client, owner: User, org_id: str, name: str) -> str:
    response = await client.post(f"/orgs/{org_id}/items", json={"name": name}, headers=owner.headers)
    assert response.status_code == 201, response.text
    return response.json()["data"]["id"]


async def deliveries(db: asyncpg.Pool[Any], endpoint_id: uuid.UUID) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT id, state, attempts, last_status_code, event_type FROM webhook_deliveries"
        " WHERE endpoint_id = $1",
        endpoint_id,
    )


async def settle(db: asyncpg.Pool[Any], endpoint_id: uuid.UUID, within: float = 30) -> list[asyncpg.Record]:
    """Wait until the endpoint's deliveries are final, pulling retries forward (no real backoff)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        rows = await deliveries(db, endpoint_id)
        if rows and all(row["state"] != "pending" for row in rows):
            return rows
        assert asyncio.get_running_loop().time() < deadline, [dict(row) for row in rows]
        await db.execute(
            "UPDATE jobs SET run_at = now()"
            " WHERE state = 'queued' AND kind LIKE 'webhooks.%' AND run_at > now()"
        )
        await asyncio.sleep(0.1)


async def test_a_created_item_is_delivered_signed_after_failed_attempts(
    hook_client: Client, loopback_settings: Settings, db: asyncpg.Pool[Any], receiver: Receiver
) -> None:
    owner = await signed_in_user(hook_client)
    org_id = await org_of(hook_client, owner)
    endpoint_id = await endpoint(db, org_id, receiver.url, ["item.created"])
    receiver.statuses = [500, 503]

    async with service_worker(loopback_settings):
        item_id = await create_item(hook_client, owner, org_id, "Signed widget")
        [delivery] = await settle(db, endpoint_id)

    assert (delivery["state"], delivery["attempts"], delivery["last_status_code"]) == ("succeeded", 3, 200)
    assert len(receiver.requests) == 3
    last = receiver.requests[-1]
    verify_signature(last.headers["webhook-signature"], last.body, [SECRET], now=time.time())
    event = json.loads(last.body)
    assert (event["type"], event["org_id"], event["data"]["id"], event["data"]["name"]) == (
        "item.created",
        org_id,
        item_id,
        "Signed widget",
    )
    assert last.headers["webhook-id"] == event["id"]
    assert {r.body for r in receiver.requests} == {last.body}  # every retry sends the same event
    log = await db.fetch(
        "SELECT attempt, status_code, error FROM webhook_delivery_attempts"
        " WHERE delivery_id = $1 ORDER BY attempt",
        delivery["id"],
    )
    assert [(row["attempt"], row["status_code"]) for row in log] == [(1, 500), (2, 503), (3, 200)]
    health = await db.fetchrow(
        "SELECT consecutive_failures, failing_since, enabled FROM webhook_endpoints WHERE id = $1",
        endpoint_id,
    )
    assert health is not None
    assert (health["consecutive_failures"], health["failing_since"], health["enabled"]) == (0, None, True)


async def test_only_subscribed_event_types_are_delivered(
    hook_client: Client, loopback_settings: Settings, db: asyncpg.Pool[Any], receiver: Receiver
) -> None:
    owner = await signed_in_user(hook_client)
    org_id = await org_of(hook_client, owner)
    deletes_only = await endpoint(db, org_id, receiver.url, ["item.deleted"])
    everything = await endpoint(db, org_id, receiver.url, ["*"])

    async with service_worker(loopback_settings):
        item_id = await create_item(hook_client, owner, org_id, "Gone soon")
        assert (
            await hook_client.delete(f"/orgs/{org_id}/items/{item_id}", headers=owner.headers)
        ).status_code == 204
        await settle(db, everything)
        await settle(db, deletes_only)

    assert sorted(row["event_type"] for row in await deliveries(db, everything)) == [
        "item.created",
        "item.deleted",
    ]
    assert [row["event_type"] for row in await deliveries(db, deletes_only)] == ["item.deleted"]


async def test_an_org_without_endpoints_queues_no_fan_out(hook_client: Client, db: asyncpg.Pool[Any]) -> None:
    owner = await signed_in_user(hook_client)
    org_id = await org_of(hook_client, owner)
    await create_item(hook_client, owner, org_id, "Quiet")
    events = await db.fetch("SELECT id FROM domain_events WHERE org_id = $1", uuid.UUID(org_id))
    assert len(events) == 1  # the event is recorded all the same
    fan_outs = await db.fetchval(
        "SELECT count(*) FROM jobs WHERE kind = 'webhooks.fan_out' AND payload->>'org_id' = $1", org_id
    )
    assert fan_outs == 0


async def test_a_failing_endpoint_is_disabled_and_its_admins_are_emailed(
    hook_client: Client, make_settings: Callable[..., Settings], db: asyncpg.Pool[Any], receiver: Receiver
) -> None:
    quick_to_give_up = make_settings(
        webhook_allow_loopback="true",
        worker_poll_seconds="0.2",
        webhook_disable_after_failures="2",
        webhook_disable_after_hours="0.0001",  # 0.36 s
    )
    owner = await signed_in_user(hook_client)
    org_id = await org_of(hook_client, owner)
    endpoint_id = await endpoint(db, org_id, receiver.url, ["item.created"])
    receiver.statuses = [500] * 50

    async with service_worker(quick_to_give_up):
        await create_item(hook_client, owner, org_id, "Never arrives")
        await asyncio.sleep(0.5)  # longer than webhook_disable_after_hours (0.36 s) after the first failure
        [delivery] = await settle(db, endpoint_id)

    assert delivery["state"] == "failed"
    row = await db.fetchrow(
        "SELECT enabled, disabled_reason FROM webhook_endpoints WHERE id = $1", endpoint_id
    )
    assert row is not None
    assert row["enabled"] is False
    assert "HTTP 500" in row["disabled_reason"]
    email = await db.fetchrow(
        "SELECT to_address, payload FROM email_outbox"
        " WHERE template = 'webhook_endpoint_disabled' AND to_address = $1",
        owner.email,
    )
    assert email is not None
    assert json.loads(email["payload"])["endpoint_url"] == receiver.url


async def test_a_loopback_url_is_refused_at_delivery_without_the_setting(
    hook_client: Client, make_settings: Callable[..., Settings], db: asyncpg.Pool[Any], receiver: Receiver
) -> None:
    owner = await signed_in_user(hook_client)
    org_id = await org_of(hook_client, owner)
    endpoint_id = await endpoint(db, org_id, receiver.url, ["item.created"])
    strict = make_settings(webhook_allow_loopback="false", worker_poll_seconds="0.2")

    async with service_worker(strict):
        await create_item(hook_client, owner, org_id, "Internal")
        deadline = asyncio.get_running_loop().time() + 20
        while not await db.fetchval(
            "SELECT count(*) FROM webhook_delivery_attempts WHERE endpoint_id = $1", endpoint_id
        ):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.1)

    error = await db.fetchval(
        "SELECT error FROM webhook_delivery_attempts WHERE endpoint_id = $1", endpoint_id
    )
    assert error.startswith("refused:")
    assert receiver.requests == []


async def test_old_domain_events_are_purged_with_their_deliveries(
    hook_client: Client, loopback_settings: Settings, db: asyncpg.Pool[Any], receiver: Receiver
) -> None:
    owner = await signed_in_user(hook_client)
    org_id = await org_of(hook_client, owner)
    endpoint_id = await endpoint(db, org_id, receiver.url, ["item.created"])
    old, recent = uuid.uuid4(), uuid.uuid4()
    for event_id, age in ((old, timedelta(days=40)), (recent, timedelta(days=1))):
        await db.execute(
            "INSERT INTO domain_events (org_id, id, event_type, payload, occurred_at)"
            " VALUES ($1, $2, 'item.created', '{}', now() - $3::interval)",
            uuid.UUID(org_id),
            event_id,
            age,
        )
        await db.execute(
            "INSERT INTO webhook_deliveries (org_id, id, endpoint_id, event_id, event_type, state)"
            " VALUES ($1, $2, $3, $4, 'item.created', 'succeeded')",
            uuid.UUID(org_id),
            uuid.uuid4(),
            endpoint_id,
            event_id,
        )

    async with service_worker(loopback_settings):
        await asyncio.sleep(0.5)  # a maintenance pass runs as the worker starts

    kept = await db.fetch("SELECT id FROM domain_events WHERE org_id = $1", uuid.UUID(org_id))
    assert [row["id"] for row in kept] == [recent]
    assert await db.fetchval("SELECT count(*) FROM webhook_deliveries WHERE event_id = $1", old) == 0
    assert await db.fetchval("SELECT count(*) FROM webhook_deliveries WHERE event_id = $1", recent) == 1


async def _rotate(client: Client, owner: User, org_id: str, endpoint_id: uuid.UUID) -> dict[str, Any]:
    response = await client.post(
        f"/orgs/{org_id}/webhook-endpoints/{endpoint_id}/rotate-secret", headers=owner.headers
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def test_after_a_rotation_deliveries_are_signed_with_both_secrets_until_the_grace_ends(
    hook_client: Client, loopback_settings: Settings, db: asyncpg.Pool[Any], receiver: Receiver
) -> None:
    owner = await signed_in_user(hook_client)
    org_id = await org_of(hook_client, owner)
    endpoint_id = await endpoint(db, org_id, receiver.url, ["item.created"])
    new_secret = (await _rotate(hook_client, owner, org_id, endpoint_id))["secret"]

    async with service_worker(loopback_settings):
        await create_item(hook_client, owner, org_id, "During the grace")
        await settle(db, endpoint_id)
        during = receiver.requests[-1]
        await db.execute(
            "UPDATE webhook_endpoints SET previous_secret_expires_at = now() - interval '1 second'"
            " WHERE id = $1",
            endpoint_id,
        )
        await create_item(hook_client, owner, org_id, "After the grace")
        deadline = asyncio.get_running_loop().time() + 30
        while len(receiver.requests) < 2:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.1)
        after = receiver.requests[-1]

    # During the grace period a receiver that knows either secret accepts the delivery.
    header = during.headers["webhook-signature"]
    assert header.count("v1=") == 2
    verify_signature(header, during.body, [SECRET], now=time.time())
    verify_signature(header, during.body, [new_secret], now=time.time())
    # After it, only the new secret signs.
    header = after.headers["webhook-signature"]
    assert header.count("v1=") == 1
    verify_signature(header, after.body, [new_secret], now=time.time())
    with pytest.raises(SignatureError):
        verify_signature(header, after.body, [SECRET], now=time.time())


async def test_with_no_grace_the_replaced_secret_stops_at_once(
    make_settings: Callable[..., Settings], db: asyncpg.Pool[Any]
) -> None:
    settings = make_settings(webhook_rotation_grace_hours="0")
    async with AsyncTestClient(create_app(settings)) as client:
        owner = await signed_in_user(client)
        org_id = await org_of(client, owner)
        endpoint_id = await endpoint(db, org_id, "https://hooks.example.com/x", ["item.created"])
        rotated = await _rotate(client, owner, org_id, endpoint_id)
    assert rotated["previous_secret_expires_at"] is None
    row = await db.fetchrow(
        "SELECT previous_secret, previous_secret_expires_at FROM webhook_endpoints WHERE id = $1", endpoint_id
    )
    assert row is not None
    assert (row["previous_secret"], row["previous_secret_expires_at"]) == (None, None)
