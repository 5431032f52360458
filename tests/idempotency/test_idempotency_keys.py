"""The Idempotency-Key header on create routes: replay, different body, concurrent duplicates,
per-caller keys, atomicity with the effect, expiry and purge, encrypted storage, bad keys."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.core.config import Settings
from app.core.db import Database
from app.idempotency.store import IdempotencyStore, purge_expired_keys
from app.main import create_app
from tests.factories import Client, expect_data, expect_problem, signed_in_user
from tests.items.item_helpers import batch_url, items_url, send_concurrently
from tests.orgs.org_helpers_keys import create_key, key_headers
from tests.orgs.org_helpers_orgs import Pool, org_with

REPLAYED = "idempotent-replayed"


def with_key(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


async def count_items(db: Pool, org_id: str, name: str) -> int:
    return await db.fetchval("SELECT count(*) FROM items WHERE org_id = $1 AND name = $2", UUID(org_id), name)


async def count_events(db: Pool, org_id: str) -> int:
    return await db.fetchval(
        "SELECT count(*) FROM domain_events WHERE org_id = $1 AND event_type = 'item.created'", UUID(org_id)
    )


async def stored_keys(db: Pool, key: str) -> int:
    return await db.fetchval("SELECT count(*) FROM idempotency_keys WHERE idempotency_key = $1", key)


async def expire(db: Pool, key: str) -> None:
    await db.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '2 days',"
        " expires_at = now() - interval '1 day' WHERE idempotency_key = $1",
        key,
    )


async def test_a_retry_gets_the_first_response_and_creates_nothing_more(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    key = str(uuid4())
    body = {"name": "Once", "price": 999, "currency": "EUR"}
    first = await client.post(items_url(org_id), json=body, headers=with_key(owner.headers, key))
    created = expect_data(first, 201)
    assert REPLAYED not in first.headers

    retry = await client.post(items_url(org_id), json=body, headers=with_key(owner.headers, key))
    assert expect_data(retry, 201) == created
    assert retry.headers[REPLAYED] == "true"
    assert retry.headers["etag"] == first.headers["etag"]
    assert retry.headers["location"] == first.headers["location"]
    assert retry.headers["x-request-id"] != first.headers["x-request-id"]
    assert await count_items(db, org_id, "Once") == 1


async def test_the_same_key_with_another_body_or_route_is_refused(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    key = str(uuid4())
    headers = with_key(owner.headers, key)
    expect_data(await client.post(items_url(org_id), json={"name": "First"}, headers=headers), 201)

    other_body = await client.post(items_url(org_id), json={"name": "Second"}, headers=headers)
    expect_problem(other_body, 422, "IDEMPOTENCY_KEY_REUSED")
    other_route = await client.post(batch_url(org_id), json={"items": [{"name": "First"}]}, headers=headers)
    expect_problem(other_route, 422, "IDEMPOTENCY_KEY_REUSED")
    assert await count_items(db, org_id, "Second") == 0
    assert await count_items(db, org_id, "First") == 1


async def test_keys_belong_to_their_caller(client: Client, db: Pool) -> None:
    """Two API keys (and a user) may pick the same key string: each gets its own effect."""
    org_id, owner, _ = await org_with(client, db)
    first_key = (await create_key(client, org_id, owner, "member"))["key"]
    second_key = (await create_key(client, org_id, owner, "member"))["key"]
    key = "order-42"
    body = {"name": "Shared key"}
    for headers in (key_headers(first_key), key_headers(second_key), owner.headers):
        response = await client.post(items_url(org_id), json=body, headers=with_key(headers, key))
        expect_data(response, 201)
        assert REPLAYED not in response.headers
    assert await count_items(db, org_id, "Shared key") == 3


async def test_a_request_while_the_first_is_in_flight_gets_409(client: Client, db: Pool) -> None:
    """The first request holds the key (a transaction-level advisory lock) until it commits."""
    org_id, owner, _ = await org_with(client, db)
    key = str(uuid4())
    caller = f"user:{owner.id}"
    async with db.acquire() as conn, conn.transaction():
        held = await conn.fetchval(
            "SELECT pg_try_advisory_xact_lock(hashtextextended($1 || ' ' || $2, 7))", caller, key
        )
        assert held
        busy = await client.post(
            items_url(org_id), json={"name": "Busy"}, headers=with_key(owner.headers, key)
        )
        expect_problem(busy, 409, "IDEMPOTENCY_KEY_IN_USE")
        assert busy.headers["retry-after"] == "1"
    # Once the first is done (here: gave up without storing anything), a retry runs.
    expect_data(
        await client.post(items_url(org_id), json={"name": "Busy"}, headers=with_key(owner.headers, key)), 201
    )
    assert await count_items(db, org_id, "Busy") == 1


async def test_concurrent_duplicates_create_exactly_one(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    api_key = (await create_key(client, org_id, owner, "member"))["key"]
    headers = with_key(key_headers(api_key), str(uuid4()))
    body = {"name": "Concurrent"}
    responses = await send_concurrently(client, *[("POST", items_url(org_id), headers, body)] * 8)

    statuses = sorted(response.status_code for response in responses)
    assert set(statuses) <= {201, 409}, [response.text for response in responses]
    originals = [r for r in responses if r.status_code == 201 and REPLAYED not in r.headers]
    assert len(originals) == 1
    created_id = originals[0].json()["data"]["id"]
    for response in responses:
        if response.status_code == 201:
            assert response.json()["data"]["id"] == created_id
        else:
            expect_problem(response, 409, "IDEMPOTENCY_KEY_IN_USE")
    assert await count_items(db, org_id, "Concurrent") == 1
    # Afterwards every retry is a replay.
    retry = await client.post(items_url(org_id), json=body, headers=headers)
    assert expect_data(retry, 201)["id"] == created_id
    assert retry.headers[REPLAYED] == "true"


async def test_a_failed_request_stores_nothing_so_a_corrected_retry_runs(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    key = str(uuid4())
    headers = with_key(owner.headers, key)
    bad = await client.post(items_url(org_id), json={"name": "Fixed", "price": -1}, headers=headers)
    assert bad.status_code == 422
    assert await stored_keys(db, key) == 0
    expect_data(await client.post(items_url(org_id), json={"name": "Fixed"}, headers=headers), 201)
    assert await stored_keys(db, key) == 1


async def test_the_key_and_the_effect_commit_together(client: Client, db: Pool, app: Litestar) -> None:
    """A failure after the effect was written rolls both back: no item without a stored key."""
    org_id, owner, _ = await org_with(client, db)
    key = str(uuid4())
    store: IdempotencyStore = app.state["idempotency"]

    class BrokenSealer:
        def encrypt(self, plaintext: bytes, associated_data: bytes) -> bytes:
            raise RuntimeError("disk on fire")

        def decrypt(self, ciphertext: bytes, associated_data: bytes) -> bytes:
            raise AssertionError("not reached")

    real = store._sealer  # pyright: ignore[reportPrivateUsage]
    store._sealer = BrokenSealer()  # pyright: ignore[reportPrivateUsage]
    try:
        (failed,) = await send_concurrently(
            client, ("POST", items_url(org_id), with_key(owner.headers, key), {"name": "Atomic"})
        )
    finally:
        store._sealer = real  # pyright: ignore[reportPrivateUsage]
    expect_problem(failed, 500, "INTERNAL_ERROR")
    assert await count_items(db, org_id, "Atomic") == 0
    assert await stored_keys(db, key) == 0
    # The item's domain event (the outbound-webhook outbox) was written in the same transaction.
    assert await count_events(db, org_id) == 0
    expect_data(
        await client.post(items_url(org_id), json={"name": "Atomic"}, headers=with_key(owner.headers, key)),
        201,
    )
    assert await count_items(db, org_id, "Atomic") == 1
    assert await count_events(db, org_id) == 1


async def test_a_secret_shown_once_is_replayed_but_stored_encrypted(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    key = str(uuid4())
    body = {"name": "ci", "role": "viewer"}
    url = f"/orgs/{org_id}/api-keys"
    first = expect_data(await client.post(url, json=body, headers=with_key(owner.headers, key)), 201)
    again = await client.post(url, json=body, headers=with_key(owner.headers, key))
    assert expect_data(again, 201)["key"] == first["key"]
    assert again.headers[REPLAYED] == "true"
    stored: bytes = await db.fetchval(
        "SELECT response_body FROM idempotency_keys WHERE idempotency_key = $1", key
    )
    secret = first["key"].encode()
    for form in (secret, base64.b64encode(secret), first["id"].encode()):
        assert form not in stored
    keys = await db.fetchval("SELECT count(*) FROM api_keys WHERE org_id = $1", UUID(org_id))
    assert keys == 1


async def test_an_expired_key_runs_again_and_is_purged(client: Client, db: Pool, app: Litestar) -> None:
    org_id, owner, _ = await org_with(client, db)
    key = str(uuid4())
    headers = with_key(owner.headers, key)
    expect_data(await client.post(items_url(org_id), json={"name": "Expiring"}, headers=headers), 201)
    await expire(db, key)
    rerun = await client.post(items_url(org_id), json={"name": "Expiring"}, headers=headers)
    expect_data(rerun, 201)
    assert REPLAYED not in rerun.headers
    assert await count_items(db, org_id, "Expiring") == 2

    other = str(uuid4())
    expect_data(
        await client.post(items_url(org_id), json={"name": "Old"}, headers=with_key(owner.headers, other)),
        201,
    )
    await expire(db, other)
    database: Database = app.state["db"]
    purged = await _in_app_loop(client, lambda: purge_expired_keys(database))
    assert purged >= 1
    assert await stored_keys(db, other) == 0
    assert await stored_keys(db, key) == 1


async def _in_app_loop(client: Client, fn: Any) -> Any:
    return await asyncio.to_thread(client.blocking_portal.call, fn)


async def test_bad_keys_are_refused_before_anything_runs(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    for bad in ("has space", "x" * 256, "tab\there"):
        response = await client.post(
            items_url(org_id), json={"name": "Bad key"}, headers=with_key(owner.headers, bad)
        )
        expect_problem(response, 422, "VALIDATION_ERROR", path="Idempotency-Key")
    empty = httpx.Headers(owner.headers)
    empty["Idempotency-Key"] = ""
    response = await client.post(items_url(org_id), json={"name": "Bad key"}, headers=empty)
    expect_problem(response, 422, "VALIDATION_ERROR", path="Idempotency-Key")
    assert await count_items(db, org_id, "Bad key") == 0


async def test_authentication_and_tenancy_come_first(client: Client, db: Pool) -> None:
    org_a, owner_a, _ = await org_with(client, db)
    org_b, _, _ = await org_with(client, db)
    key = str(uuid4())
    anonymous = await client.post(items_url(org_a), json={"name": "Nobody"}, headers={"Idempotency-Key": key})
    expect_problem(anonymous, 401, "AUTHENTICATION_REQUIRED")
    foreign = await client.post(
        items_url(org_b), json={"name": "Foreign"}, headers=with_key(owner_a.headers, key)
    )
    expect_problem(foreign, 404, "NOT_FOUND")
    viewer_org, _, (viewer,) = await org_with(client, db, "viewer")
    denied = await client.post(
        items_url(viewer_org), json={"name": "Viewer"}, headers=with_key(viewer.headers, key)
    )
    expect_problem(denied, 403, "PERMISSION_DENIED")
    assert await stored_keys(db, key) == 0


async def test_user_routes_take_keys_too(client: Client, db: Pool) -> None:
    user = await signed_in_user(client)
    key = str(uuid4())
    body = {"name": "Idem Org", "slug": f"idem-{uuid4().hex[:10]}"}
    first = expect_data(await client.post("/orgs", json=body, headers=with_key(user.headers, key)), 201)
    again = await client.post("/orgs", json=body, headers=with_key(user.headers, key))
    assert expect_data(again, 201) == first
    assert again.headers[REPLAYED] == "true"


async def test_create_routes_document_the_header(client: Client) -> None:
    schema = (await client.get("/docs/openapi.json")).json()
    for path, method in (
        ("/orgs/{org_id}/items", "post"),
        ("/orgs/{org_id}/items:batch", "post"),
        ("/orgs/{org_id}/posts", "post"),
        ("/orgs/{org_id}/posts/{post_id}/comments", "post"),
        ("/orgs", "post"),
        ("/orgs/{org_id}/api-keys", "post"),
        ("/orgs/{org_id}/invitations", "post"),
        ("/orgs/{org_id}/webhook-endpoints", "post"),
    ):
        operation = schema["paths"][path][method]
        names = [parameter["name"] for parameter in operation.get("parameters", [])]
        assert "Idempotency-Key" in names, (path, names)
        assert {"409", "422"} <= operation["responses"].keys(), path


async def test_replays_count_against_the_rate_limit_once_each(
    make_settings: Callable[..., Settings], db: Pool
) -> None:
    settings = make_settings(
        rate_limit_enabled="true", rate_limit_key_prefix=f"idem-{uuid4().hex}:", rate_limit_write_requests="3"
    )
    async with AsyncTestClient(create_app(settings)) as limited:
        user = await signed_in_user(limited)
        body = {"name": "Limited org", "slug": f"limited-{uuid4().hex[:10]}"}
        headers = with_key(user.headers, str(uuid4()))
        first = await limited.post("/orgs", json=body, headers=headers)
        expect_data(first, 201)
        assert first.headers["ratelimit-remaining"] == "2"
        replay = await limited.post("/orgs", json=body, headers=headers)
        assert replay.headers[REPLAYED] == "true"
        assert replay.headers["ratelimit-remaining"] == "1"
        expect_data(await limited.post("/orgs", json=body, headers=headers), 201)
        refused = await limited.post("/orgs", json=body, headers=headers)
        expect_problem(refused, 429, "RATE_LIMITED")
        assert int(refused.headers["retry-after"]) >= 1
