"""Helpers for tests/orgs/test_orgs.py and tests/orgs/test_members.py: orgs created through the
API, extra members inserted straight into org_members (setup only), and database checks."""

from __future__ import annotations

import asyncio
from typing import Any, TypeAlias
from uuid import UUID

import asyncpg
import httpx
from litestar.testing.transport import TestClientTransport

from tests.factories import Client, User, expect_data, signed_in_user, unique

Pool: TypeAlias = "asyncpg.Pool[Any]"


def new_slug() -> str:
    return unique("org-")


async def create_org(
    client: Client, owner: User, *, name: str = "Acme", slug: str | None = None
) -> dict[str, Any]:
    response = await client.post(
        "/orgs", json={"name": name, "slug": slug or new_slug()}, headers=owner.headers
    )
    return expect_data(response, 201)


async def add_member(db: Pool, org_id: str, user: User, role: str) -> None:
    """Put `user` in the org with `role` directly (test setup, not the invitation flow)."""
    await db.execute(
        "INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, $3)",
        UUID(org_id),
        UUID(user.id),
        role,
    )


async def org_with(client: Client, db: Pool, *roles: str) -> tuple[str, User, list[User]]:
    """An org created by a new owner, plus one new user for each role in `roles`."""
    owner = await signed_in_user(client)
    org = await create_org(client, owner)
    others: list[User] = []
    for role in roles:
        user = await signed_in_user(client)
        await add_member(db, org["id"], user, role)
        others.append(user)
    return org["id"], owner, others


async def role_in_db(db: Pool, org_id: str, user_id: str) -> str | None:
    return await db.fetchval(
        "SELECT role FROM org_members WHERE org_id = $1 AND user_id = $2", UUID(org_id), UUID(user_id)
    )


async def owner_ids(db: Pool, org_id: str) -> set[str]:
    rows = await db.fetch(
        "SELECT user_id FROM org_members WHERE org_id = $1 AND role = 'owner'", UUID(org_id)
    )
    return {str(row["user_id"]) for row in rows}


async def set_role(client: Client, actor: User, org_id: str, user_id: str, role: str) -> httpx.Response:
    return await client.patch(f"/orgs/{org_id}/members/{user_id}", json={"role": role}, headers=actor.headers)


async def remove(client: Client, actor: User, org_id: str, user_id: str) -> httpx.Response:
    return await client.delete(f"/orgs/{org_id}/members/{user_id}", headers=actor.headers)


async def leave(client: Client, actor: User, org_id: str) -> httpx.Response:
    return await client.post(f"/orgs/{org_id}/leave", headers=actor.headers)


async def transfer(client: Client, actor: User, org_id: str, user_id: str) -> httpx.Response:
    return await client.post(
        f"/orgs/{org_id}/transfer-ownership", json={"user_id": user_id}, headers=actor.headers
    )


async def all_pages(client: Client, user: User, url: str, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Every item of a cursor-paginated list, following meta.next_cursor; and the page count."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit}
    pages = 0
    while True:
        response = await client.get(url, params=params, headers=user.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        assert len(body["data"]) <= limit
        items.extend(body["data"])
        assert body["meta"]["has_more"] is (body["meta"]["next_cursor"] is not None)
        if not body["meta"]["has_more"]:
            return items, pages
        params = {"limit": limit, "cursor": body["meta"]["next_cursor"]}
        assert pages < 50, "pagination does not terminate"


def _send_blocking(client: Client, method: str, url: str, user: User, json: Any) -> httpx.Response:
    request = client.build_request(method, url, json=json, headers=user.headers)
    transport = TestClientTransport(client=client, raise_server_exceptions=False)  # type: ignore[arg-type]
    response = transport.handle_request(request)
    response.read()
    return response


async def concurrently(client: Client, *calls: tuple[str, str, User, Any]) -> list[httpx.Response]:
    """Send (method, url, user, json) requests really at once.

    AsyncTestClient handles each request synchronously (it blocks the event loop until the app
    answers), so asyncio.gather over it runs requests one after the other. Sending each from its
    own thread lets them overlap inside the app, as concurrent requests do in production."""
    return list(await asyncio.gather(*(asyncio.to_thread(_send_blocking, client, *call) for call in calls)))
