"""Org routes authenticate and authorize without a database round trip in the steady state, and
a change of membership still takes effect at once on the app that made it and promptly on every
other instance (through Redis; without Redis, within MEMBERSHIP_CACHE_SECONDS).

SQL is counted on the real pool: `QueryCounter` replaces the app's `Database.connection`, which
every query goes through, with a pass-through that registers an asyncpg query logger on each
connection it hands out, so every statement sent (BEGIN and COMMIT included) is recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from asyncpg.connection import LoggedQuery
from litestar import Litestar

from app.core.config import Settings
from app.core.db import Connection, Database
from app.orgs.memberships import MembershipCache
from tests.factories import (
    Client,
    User,
    expect_data,
    expect_no_content,
    expect_problem,
    signed_in_user,
)
from tests.items.item_helpers import create_item, item_url, items_url
from tests.orgs.org_helpers_keys import (
    add_member,
    answers_within,
    create_key,
    key_headers,
    new_org,
    running,
    wait_listening,
)
from tests.orgs.test_invitation_flow import accept, invite, verified_user

Caller = str  # "api_key" or "user"
Headers = dict[str, str]
CALLERS: tuple[Caller, ...] = ("api_key", "user")
REQUESTS = 20
# Lifetimes long enough that nothing expires during a test: the steady state, deterministically.
# (The last-use flush would otherwise write a batch every 30 s.)
STEADY = {
    "session_cache_seconds": "60",
    "membership_cache_seconds": "60",
    "api_key_cache_seconds": "60",
    "api_key_last_used_flush_seconds": "3600",
}


class QueryCounter:
    """The SQL statements an app sends, recorded on the connections of its real pool."""

    def __init__(self, db: Database) -> None:
        self._open = db.connection
        self.statements: list[str] = []
        self.acquired = 0

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        self.acquired += 1
        async with self._open() as conn:
            conn.add_query_logger(self._log)
            try:
                yield conn
            finally:
                conn.remove_query_logger(self._log)

    def _log(self, query: LoggedQuery) -> None:
        self.statements.append(query.query)

    def reset(self) -> None:
        self.statements.clear()
        self.acquired = 0


@asynccontextmanager
async def counted(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Litestar, Client, QueryCounter]]:
    """An app instance of its own whose SQL statements are counted."""
    async with running(settings) as (app, client):
        db: Database = app.state["db"]
        counter = QueryCounter(db)
        monkeypatch.setattr(db, "connection", counter.connection)
        yield app, client, counter


def memberships(app: Litestar) -> MembershipCache:
    return app.state["memberships"]


async def org_with_item(
    client: Client, db: asyncpg.Pool[Any]
) -> tuple[str, str, dict[Caller, dict[str, str]]]:
    """(org_id, item_id, headers per caller): a viewer key and a viewer member, both unused."""
    owner = await signed_in_user(client)
    org_id = await new_org(client, owner)
    item = await create_item(client, org_id, owner.headers)
    key = await create_key(client, org_id, owner, "viewer")
    viewer = await signed_in_user(client)
    await add_member(db, org_id, viewer, "viewer")
    return org_id, item["id"], {"api_key": key_headers(key["key"]), "user": viewer.headers}


def mentions(statements: list[str], table: str) -> bool:
    return any(table in statement for statement in statements)


# ---- the steady state -------------------------------------------------------------------------


@pytest.mark.parametrize("caller", CALLERS)
async def test_reading_an_item_sends_no_sql_after_the_first_request(
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    db: asyncpg.Pool[Any],
    caller: Caller,
) -> None:
    async with counted(make_settings(**STEADY), monkeypatch) as (_, client, counter):
        org_id, item_id, headers = await org_with_item(client, db)
        path = item_url(org_id, item_id)

        counter.reset()
        expect_data(await client.get(path, headers=headers[caller]))
        # The counter sees what a cold request reads: the credential, the role and the item.
        if caller == "api_key":
            assert mentions(counter.statements, "api_keys"), counter.statements
        else:
            assert mentions(counter.statements, "auth_sessions"), counter.statements
            assert mentions(counter.statements, "org_members"), counter.statements
        assert mentions(counter.statements, "items"), counter.statements

        counter.reset()
        for _ in range(REQUESTS):
            assert expect_data(await client.get(path, headers=headers[caller]))["id"] == item_id

        assert counter.statements == []
        assert counter.acquired == 0


@pytest.mark.parametrize("caller", CALLERS)
async def test_a_list_request_sends_only_the_list_query(
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    db: asyncpg.Pool[Any],
    caller: Caller,
) -> None:
    async with counted(make_settings(**STEADY), monkeypatch) as (_, client, counter):
        org_id, item_id, headers = await org_with_item(client, db)
        expect_data(await client.get(items_url(org_id), headers=headers[caller]))  # warm-up

        for _ in range(5):
            counter.reset()
            listed = expect_data(await client.get(items_url(org_id), headers=headers[caller]))
            assert [item["id"] for item in listed] == [item_id]
            assert len(counter.statements) == 1, counter.statements
            assert mentions(counter.statements, "items")
            assert counter.acquired == 1


# ---- membership changes -----------------------------------------------------------------------


async def denied_within(client: Client, path: str, user: User, status: int, seconds: float) -> float:
    """Poll until `user` gets `status` on `path` (every answer before must be 200); the seconds."""
    elapsed, _ = await answers_within(client, path, user.headers, status, seconds)
    return elapsed


async def set_role(client: Client, org_id: str, owner: User, member: User, role: str) -> None:
    expect_data(
        await client.patch(f"/orgs/{org_id}/members/{member.id}", json={"role": role}, headers=owner.headers)
    )


async def remove(client: Client, org_id: str, owner: User, member: User) -> None:
    expect_no_content(await client.delete(f"/orgs/{org_id}/members/{member.id}", headers=owner.headers))


async def org_with_admin(client: Client, db: asyncpg.Pool[Any]) -> tuple[str, User, User]:
    owner = await signed_in_user(client)
    org_id = await new_org(client, owner)
    admin = await signed_in_user(client)
    await add_member(db, org_id, admin, "admin")
    return org_id, owner, admin


async def test_demotion_and_removal_take_effect_at_once_on_the_same_app(
    make_settings: Callable[..., Settings], db: asyncpg.Pool[Any]
) -> None:
    # A 60 s lifetime: only the invalidation can explain an immediate refusal.
    async with running(make_settings(membership_cache_seconds="60")) as (app, client):
        org_id, owner, admin = await org_with_admin(client, db)
        audit = f"/orgs/{org_id}/audit"
        expect_data(await client.get(audit, headers=admin.headers))
        misses = memberships(app).cache_misses
        expect_data(await client.get(audit, headers=admin.headers))
        assert memberships(app).cache_misses == misses  # the admin's role comes from the cache

        await set_role(client, org_id, owner, admin, "member")

        expect_problem(await client.get(audit, headers=admin.headers), 403, "PERMISSION_DENIED")
        assert expect_data(await client.get(f"/orgs/{org_id}", headers=admin.headers))["role"] == "member"

        await remove(client, org_id, owner, admin)

        expect_problem(await client.get(f"/orgs/{org_id}", headers=admin.headers), 404, "NOT_FOUND")


async def test_demotion_and_removal_reach_another_instance_through_redis(
    make_settings: Callable[..., Settings], db: asyncpg.Pool[Any]
) -> None:
    settings = make_settings(membership_cache_seconds="60")
    async with running(settings) as (app_a, client_a), running(settings) as (app_b, client_b):
        await wait_listening(app_a)
        await wait_listening(app_b)
        org_id, owner, admin = await org_with_admin(client_a, db)
        audit, org = f"/orgs/{org_id}/audit", f"/orgs/{org_id}"
        expect_data(await client_b.get(audit, headers=admin.headers))
        expect_data(await client_b.get(org, headers=admin.headers))
        misses = memberships(app_b).cache_misses
        expect_data(await client_b.get(audit, headers=admin.headers))
        assert memberships(app_b).cache_misses == misses  # B answers from its cache

        await set_role(client_a, org_id, owner, admin, "member")

        assert await denied_within(client_b, audit, admin, 403, seconds=5) < 5
        assert expect_data(await client_b.get(org, headers=admin.headers))["role"] == "member"

        await remove(client_a, org_id, owner, admin)

        assert await denied_within(client_b, org, admin, 404, seconds=5) < 5


async def test_joining_and_org_deletion_reach_another_instance_through_redis(
    make_settings: Callable[..., Settings], db: asyncpg.Pool[Any]
) -> None:
    settings = make_settings(membership_cache_seconds="60")
    async with running(settings) as (app_a, client_a), running(settings) as (app_b, client_b):
        await wait_listening(app_a)
        await wait_listening(app_b)
        owner = await signed_in_user(client_a)
        org_id = await new_org(client_a, owner)
        org = f"/orgs/{org_id}"
        joiner = await verified_user(client_a, db)
        # B remembers "not a member" ...
        expect_problem(await client_b.get(org, headers=joiner.headers), 404, "NOT_FOUND")
        misses = memberships(app_b).cache_misses
        expect_problem(await client_b.get(org, headers=joiner.headers), 404, "NOT_FOUND")
        assert memberships(app_b).cache_misses == misses

        # ... until the invitation is accepted on A.
        token = await invite(client_a, db, org_id, owner, joiner.email, "member")
        expect_data(await accept(client_a, joiner, token))

        _, response = await answers_within(client_b, org, joiner.headers, 200, seconds=5, meanwhile=404)
        assert expect_data(response)["role"] == "member"

        # Deleting the org ends every membership of it on B too.
        expect_data(await client_b.get(f"{org}/members", headers=joiner.headers))
        expect_no_content(await client_a.delete(org, headers=owner.headers))

        assert await denied_within(client_b, f"{org}/members", joiner, 404, seconds=5) < 5


async def test_without_redis_the_cache_lifetime_bounds_a_demotion(
    make_settings: Callable[..., Settings], db: asyncpg.Pool[Any]
) -> None:
    settings = make_settings(redis_url="", membership_cache_seconds="1")
    assert settings.redis_url is None
    async with running(settings) as (_, client_a), running(settings) as (app_b, client_b):
        org_id, owner, admin = await org_with_admin(client_a, db)
        audit = f"/orgs/{org_id}/audit"
        expect_data(await client_b.get(audit, headers=admin.headers))  # cached in B for 1 s
        loop = asyncio.get_running_loop()
        cached_at = loop.time()

        await set_role(client_a, org_id, owner, admin, "viewer")

        expect_problem(await client_a.get(audit, headers=admin.headers), 403, "PERMISSION_DENIED")
        if loop.time() - cached_at < 0.8:
            # B has not heard of the demotion: it trusts its entry until the entry expires.
            expect_data(await client_b.get(audit, headers=admin.headers))
        await denied_within(client_b, audit, admin, 403, seconds=2.5)
        assert loop.time() - cached_at < 2.5
        assert memberships(app_b).cache_misses >= 2


async def test_an_unknown_org_is_remembered_as_not_found_without_revealing_it(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with counted(make_settings(**STEADY), monkeypatch) as (_, client, counter):
        user = await signed_in_user(client)
        path = "/orgs/00000000-0000-0000-0000-0000000000ab/items"
        first = await client.get(path, headers=user.headers)
        counter.reset()
        again = await client.get(path, headers=user.headers)

        expect_problem(first, 404, "NOT_FOUND")
        expect_problem(again, 404, "NOT_FOUND")
        assert first.json()["detail"] == again.json()["detail"]
        assert counter.statements == []  # repeating it costs no query while the answer is cached
