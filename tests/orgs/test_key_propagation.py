"""API key authentication across workers: no database round trip per request in the steady
state, and a revoked key refused by every app instance within the 5-second bound (at once via
Redis pub/sub; by the cache lifetime when Redis cannot carry the news)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.core.config import Settings
from app.main import create_app
from app.orgs.api_keys import ApiKeyAuthenticator
from tests.factories import Client, expect_data, expect_problem, signed_in_user, unique


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[Litestar, Client]]:
    app = create_app(settings)
    async with AsyncTestClient(app) as test_client:
        yield app, test_client


async def org_with_key(client: Client, role: str = "viewer") -> tuple[str, str, str, dict[str, str]]:
    """(org_id, key_id, key, owner headers) for a fresh org."""
    owner = await signed_in_user(client)
    headers = {"Authorization": f"Bearer {owner.access_token}"}
    org = expect_data(
        await client.post("/orgs", json={"name": "Keys", "slug": unique("k")}, headers=headers), 201
    )
    key = expect_data(
        await client.post(f"/orgs/{org['id']}/api-keys", json={"name": "ci", "role": role}, headers=headers),
        201,
    )
    return org["id"], key["id"], key["key"], headers


async def refused_within(client: Client, path: str, key: str, seconds: float) -> float:
    """Poll until the key is refused; the time it took (fails after `seconds`)."""
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        response = await client.get(path, headers={"X-API-Key": key})
        if response.status_code == 401:
            expect_problem(response, 401, "INVALID_TOKEN")
            return time.perf_counter() - started
        assert response.status_code == 200, response.text
        await asyncio.sleep(0.05)
    raise AssertionError(f"the revoked key still worked after {seconds} s")


def authenticator(app: Litestar) -> ApiKeyAuthenticator:
    return app.state["api_keys"]


async def test_steady_state_needs_no_database_round_trip(client: Client, app: Litestar) -> None:
    org_id, _, key, _ = await org_with_key(client)
    expect_data(await client.get(f"/orgs/{org_id}", headers={"X-API-Key": key}))
    misses = authenticator(app).cache_misses

    for _ in range(50):
        expect_data(await client.get(f"/orgs/{org_id}", headers={"X-API-Key": key}))

    assert authenticator(app).cache_misses == misses


async def test_revocation_reaches_another_instance_through_redis(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(api_key_cache_seconds="60")  # only pub/sub can explain a fast refusal
    async with running(settings) as (app_a, client_a), running(settings) as (app_b, client_b):
        await asyncio.wait_for(authenticator(app_a).listening.wait(), 5)
        await asyncio.wait_for(authenticator(app_b).listening.wait(), 5)
        org_id, key_id, key, owner = await org_with_key(client_a)
        expect_data(await client_b.get(f"/orgs/{org_id}", headers={"X-API-Key": key}))  # cached in B

        response = await client_a.delete(f"/orgs/{org_id}/api-keys/{key_id}", headers=owner)
        assert response.status_code == 204

        assert await refused_within(client_b, f"/orgs/{org_id}", key, 5.0) < 5.0


async def test_without_redis_the_cache_lifetime_bounds_revocation(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(redis_url="", api_key_cache_seconds="1")
    async with running(settings) as (_, client_a), running(settings) as (_, client_b):
        org_id, key_id, key, owner = await org_with_key(client_a)
        expect_data(await client_b.get(f"/orgs/{org_id}", headers={"X-API-Key": key}))

        response = await client_a.delete(f"/orgs/{org_id}/api-keys/{key_id}", headers=owner)
        assert response.status_code == 204
        expect_problem(
            await client_a.get(f"/orgs/{org_id}", headers={"X-API-Key": key}), 401, "INVALID_TOKEN"
        )

        assert await refused_within(client_b, f"/orgs/{org_id}", key, 3.0) <= 2.0


async def test_deleting_the_org_stops_its_keys_on_other_instances(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(api_key_cache_seconds="60")
    async with running(settings) as (app_a, client_a), running(settings) as (app_b, client_b):
        await asyncio.wait_for(authenticator(app_b).listening.wait(), 5)
        del app_a
        org_id, _, key, owner = await org_with_key(client_a, role="admin")
        expect_data(await client_b.get(f"/orgs/{org_id}/members", headers={"X-API-Key": key}))

        assert (await client_a.delete(f"/orgs/{org_id}", headers=owner)).status_code == 204

        await refused_within(client_b, f"/orgs/{org_id}/members", key, 5.0)


async def test_last_use_is_written_in_batches(make_settings: Callable[..., Settings], db: Any) -> None:
    settings = make_settings(api_key_last_used_flush_seconds="0.3")
    async with running(settings) as (_, test_client):
        org_id, key_id, key, _ = await org_with_key(test_client)
        query = "SELECT last_used_at FROM api_keys WHERE org_id = $1 AND id = $2"
        for _ in range(5):
            expect_data(await test_client.get(f"/orgs/{org_id}", headers={"Authorization": f"Bearer {key}"}))
        written = None
        for _ in range(40):  # the worker's periodic flush, not the requests, writes it
            written = await db.fetchval(query, org_id, key_id)
            if written is not None:
                break
            await asyncio.sleep(0.05)

        assert written is not None
