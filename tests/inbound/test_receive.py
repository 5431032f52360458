"""POST /webhooks/{source}: verified, stored once, acknowledged, queued for the worker."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.core.config import Settings
from tests.factories import PROBLEM_MEDIA_TYPE
from tests.inbound.conftest import ACME_SECRETS, SHOP_SECRET, event, sign

Client = AsyncTestClient[Litestar]


async def post(client: Client, source: str, body: bytes, signature: str | None) -> Any:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Webhook-Signature"] = signature
    return await client.post(f"/webhooks/{source}", content=body, headers=headers)


async def stored(db: asyncpg.Pool[Any], source: str, body: bytes) -> list[asyncpg.Record]:
    event_id = json.loads(body)["id"]
    return await db.fetch(
        "SELECT id, event_type, body, state FROM inbound_events WHERE source = $1 AND event_id = $2",
        source,
        event_id,
    )


async def queued_jobs(db: asyncpg.Pool[Any], source: str, body: bytes) -> int:
    event_id = json.loads(body)["id"]
    return await db.fetchval(
        "SELECT count(*) FROM jobs WHERE kind = 'inbound.process' AND payload = $1::jsonb",
        json.dumps({"source": source, "event_id": event_id}),
    )


async def test_a_signed_event_is_stored_raw_and_queued(inbound_client: Client, db: asyncpg.Pool[Any]) -> None:
    body = event(amount=1200)

    response = await post(inbound_client, "acme", body, sign(ACME_SECRETS[1], body))

    assert response.status_code == 202, response.text
    data = response.json()["data"]
    assert data["source"] == "acme"
    assert data["duplicate"] is False
    [row] = await stored(db, "acme", body)
    assert bytes(row["body"]) == body
    assert (row["event_type"], row["state"]) == ("invoice.paid", "received")
    assert await queued_jobs(db, "acme", body) == 1


async def test_a_duplicate_delivery_is_acknowledged_and_not_stored_or_queued_again(
    inbound_client: Client, db: asyncpg.Pool[Any]
) -> None:
    body = event()
    first = await post(inbound_client, "acme", body, sign(ACME_SECRETS[0], body))
    second = await post(inbound_client, "acme", body, sign(ACME_SECRETS[0], body))

    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json()["data"]["duplicate"] is True
    assert len(await stored(db, "acme", body)) == 1
    assert await queued_jobs(db, "acme", body) == 1


async def test_the_same_event_id_from_another_source_is_another_event(
    inbound_client: Client, db: asyncpg.Pool[Any]
) -> None:
    body = event(event_id="evt_shared_between_sources")
    await post(inbound_client, "acme", body, sign(ACME_SECRETS[0], body))
    response = await post(inbound_client, "shop", body, sign(SHOP_SECRET, body))
    assert response.status_code in {200, 202}
    assert len(await stored(db, "shop", body)) == 1


async def test_secret_rotation_accepts_any_current_secret(inbound_client: Client) -> None:
    for secret in ACME_SECRETS:
        body = event()
        assert (await post(inbound_client, "acme", body, sign(secret, body))).status_code == 202
    body = event()
    both = sign(ACME_SECRETS[0], body) + "," + sign(ACME_SECRETS[1], body).split(",")[1]
    assert (await post(inbound_client, "acme", body, both)).status_code == 202


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    problem = response.json()
    assert problem["code"] == code, problem
    return problem


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "garbage",
        "t=abc,v1=00",
        "v1=" + "0" * 64,
    ],
    ids=["missing", "empty", "garbage", "bad-fields", "no-timestamp"],
)
async def test_a_missing_or_malformed_signature_is_refused(
    inbound_client: Client, db: asyncpg.Pool[Any], signature: str | None
) -> None:
    body = event()
    assert_problem(await post(inbound_client, "acme", body, signature), 401, "INVALID_SIGNATURE")
    assert await stored(db, "acme", body) == []


async def test_a_wrong_secret_or_a_changed_body_is_refused(
    inbound_client: Client, db: asyncpg.Pool[Any]
) -> None:
    body = event()
    assert_problem(
        await post(inbound_client, "acme", body, sign(SHOP_SECRET, body)), 401, "INVALID_SIGNATURE"
    )
    tampered = body.replace(b"invoice.paid", b"invoice.void")
    assert_problem(
        await post(inbound_client, "acme", tampered, sign(ACME_SECRETS[0], body)), 401, "INVALID_SIGNATURE"
    )
    assert await stored(db, "acme", body) == []


@pytest.mark.parametrize("skew", [-301, 301, -3600])
async def test_a_timestamp_outside_five_minutes_is_a_replay(
    inbound_client: Client, db: asyncpg.Pool[Any], skew: int
) -> None:
    body = event()
    signature = sign(ACME_SECRETS[0], body, int(time.time()) + skew)
    assert_problem(await post(inbound_client, "acme", body, signature), 401, "INVALID_SIGNATURE")
    assert await stored(db, "acme", body) == []


async def test_an_unknown_source_is_404(inbound_client: Client) -> None:
    body = event()
    assert_problem(await post(inbound_client, "nosuch", body, sign(SHOP_SECRET, body)), 404, "NOT_FOUND")
    malformed = assert_problem(
        await post(inbound_client, "Bad-Name!", body, sign(SHOP_SECRET, body)), 422, "VALIDATION_ERROR"
    )
    assert malformed["errors"][0]["path"] == "source"


async def test_a_body_over_the_cap_is_413(inbound_client: Client, inbound_settings: Settings) -> None:
    body = event(padding="x" * inbound_settings.webhook_max_body_bytes)
    assert_problem(
        await post(inbound_client, "acme", body, sign(ACME_SECRETS[0], body)), 413, "PAYLOAD_TOO_LARGE"
    )


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"type": "x"}',
        b'{"id": "", "type": "x"}',
        b'{"id": "e1"}',
        b'{"id": 5, "type": "x"}',
    ],
    ids=["not-json", "array", "no-id", "empty-id", "no-type", "numeric-id"],
)
async def test_a_signed_body_without_id_and_type_is_422(inbound_client: Client, body: bytes) -> None:
    assert_problem(
        await post(inbound_client, "acme", body, sign(ACME_SECRETS[0], body)), 422, "VALIDATION_ERROR"
    )


async def test_concurrent_deliveries_store_each_event_exactly_once(
    inbound_client: Client, db: asyncpg.Pool[Any]
) -> None:
    """1,000 deliveries, 10 % of them repeats of earlier events, 50 at a time."""
    unique = [event(n=n) for n in range(900)]
    deliveries = unique + unique[::9][:100]
    assert len(deliveries) == 1000
    limit = asyncio.Semaphore(50)

    async def deliver(body: bytes) -> int:
        async with limit:
            response = await post(inbound_client, "shop", body, sign(SHOP_SECRET, body))
            return response.status_code

    statuses = await asyncio.gather(*(deliver(body) for body in deliveries))

    assert statuses.count(202) == 900
    assert statuses.count(200) == 100
    ids = [json.loads(body)["id"] for body in unique]
    assert (
        await db.fetchval(
            "SELECT count(*) FROM inbound_events WHERE source = 'shop' AND event_id = any($1::text[])", ids
        )
        == 900
    )
    payloads = [json.dumps({"source": "shop", "event_id": event_id}) for event_id in ids]
    assert (
        await db.fetchval(
            "SELECT count(*) FROM jobs WHERE kind = 'inbound.process' AND payload = any($1::jsonb[])",
            payloads,
        )
        == 900
    )
