"""Helpers for the API key tests (tests/orgs/test_api_keys.py)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal

import anyio.to_thread
import asyncpg
import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.core.config import Settings
from app.main import create_app
from app.orgs.api_keys import ApiKeyAuthenticator
from tests.factories import Client, User, expect_data, expect_problem, signed_in_user, unique

KEY_RE = re.compile(r"^sk_[a-z2-7]{12}_[A-Za-z0-9_-]+$")
Via = Literal["bearer", "x-api-key"]
BOTH_WAYS: tuple[Via, ...] = ("bearer", "x-api-key")


def key_headers(key: str, via: Via = "x-api-key") -> dict[str, str]:
    """The headers that present `key` the way a machine client would."""
    if via == "bearer":
        return {"Authorization": f"Bearer {key}"}
    return {"X-API-Key": key}


def split_key(key: str) -> tuple[str, str]:
    """(prefix, secret) of a key ``sk_<prefix>_<secret>``."""
    assert KEY_RE.match(key), key
    prefix, _, secret = key[len("sk_") :].partition("_")
    return prefix, secret


def authenticator(app: Litestar) -> ApiKeyAuthenticator:
    return app.state["api_keys"]


async def in_app_loop(client: Client, fn: Callable[[], Awaitable[None]]) -> None:
    """Run `fn` on the event loop the app lives on (AsyncTestClient runs the app's lifespan,
    and so its pools, on a loop of its own in a portal thread)."""
    await anyio.to_thread.run_sync(client.blocking_portal.call, fn)


async def wait_listening(app: Litestar, seconds: float = 5.0) -> None:
    """Wait until the app's invalidation listener is subscribed (polled: the event belongs to
    the app's loop, not the test's)."""
    started = time.perf_counter()
    while not authenticator(app).listening.is_set():
        assert time.perf_counter() - started < seconds, "the invalidation listener never subscribed"
        await asyncio.sleep(0.01)


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[Litestar, Client]]:
    """An independent app instance (its own pool, cache and listener), started and stopped."""
    app = create_app(settings)
    async with AsyncTestClient(app) as test_client:
        yield app, test_client


async def new_org(client: Client, owner: User) -> str:
    org = expect_data(
        await client.post("/orgs", json={"name": "Key Org", "slug": unique("key")}, headers=owner.headers),
        201,
    )
    return org["id"]


async def create_key(
    client: Client, org_id: str, creator: User, role: str = "viewer", **extra: Any
) -> dict[str, Any]:
    """Create a key through the API; the response data (with `key`, shown this once)."""
    return expect_data(
        await client.post(
            f"/orgs/{org_id}/api-keys",
            json={"name": unique("key"), "role": role, **extra},
            headers=creator.headers,
        ),
        201,
    )


async def org_with_key(client: Client, role: str = "viewer") -> tuple[User, str, dict[str, Any]]:
    """(owner, org_id, created key) for a fresh org."""
    owner = await signed_in_user(client)
    org_id = await new_org(client, owner)
    return owner, org_id, await create_key(client, org_id, owner, role)


async def add_member(db: asyncpg.Pool[Any], org_id: str, user: User, role: str) -> None:
    await db.execute(
        "INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, $3)", org_id, user.id, role
    )


async def list_keys(client: Client, org_id: str, user: User) -> httpx.Response:
    return await client.get(f"/orgs/{org_id}/api-keys", headers=user.headers)


async def revoke(client: Client, org_id: str, key_id: str, user: User) -> httpx.Response:
    return await client.delete(f"/orgs/{org_id}/api-keys/{key_id}", headers=user.headers)


async def audit_events(client: Client, org_id: str, user: User, action: str) -> list[dict[str, Any]]:
    return expect_data(
        await client.get(f"/orgs/{org_id}/audit", params={"action": action}, headers=user.headers)
    )


async def answers_within(
    client: Client, path: str, headers: dict[str, str], status: int, seconds: float, meanwhile: int = 200
) -> tuple[float, httpx.Response]:
    """Poll GET `path` until it answers `status`: (the seconds it took, that response).

    Every answer before must be `meanwhile`; fails if `status` has not come after `seconds`.
    """
    started = time.perf_counter()
    while True:
        response = await client.get(path, headers=headers)
        elapsed = time.perf_counter() - started
        if response.status_code == status:
            return elapsed, response
        assert response.status_code == meanwhile, response.text
        if elapsed > seconds:
            raise AssertionError(f"still {meanwhile} after {elapsed:.2f} s instead of {status}")
        await asyncio.sleep(0.02)


async def refused_within(client: Client, path: str, key: str, seconds: float) -> float:
    """Poll until `key` is refused on `path` (401 INVALID_TOKEN); the seconds it took.

    Every answer before the refusal must be a success; fails if still accepted after `seconds`.
    """
    elapsed, response = await answers_within(client, path, key_headers(key), 401, seconds)
    expect_problem(response, 401, "INVALID_TOKEN")
    return elapsed
