"""A disabled account (users.is_active = false): no sign-in, no refresh, and with
SESSION_CACHE_SECONDS=0 its existing access tokens stop working at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from app.main import create_app
from tests.factories import Client, expect_data, expect_problem, refresh, set_active, signed_in_user


@pytest.fixture(scope="module")
async def uncached_client(make_settings: Any) -> AsyncIterator[Client]:
    """An app that re-checks the session of every access token against the database."""
    app = create_app(make_settings(session_cache_seconds="0"))
    async with AsyncTestClient(app) as uncached:
        yield uncached


async def test_a_disabled_account_cannot_log_in(client: Client, db: asyncpg.Pool[Any]) -> None:
    user = await signed_in_user(client)
    await set_active(db, user.id, False)

    response = await client.post("/auth/login", json={"login": user.email, "password": user.password})

    expect_problem(response, 401, "INVALID_CREDENTIALS")


async def test_a_disabled_account_answers_login_like_a_wrong_password(
    client: Client, db: asyncpg.Pool[Any]
) -> None:
    user = await signed_in_user(client)
    await set_active(db, user.id, False)

    disabled = await client.post("/auth/login", json={"login": user.email, "password": user.password})
    wrong = await client.post("/auth/login", json={"login": user.email, "password": "wrong password"})

    body_a, body_b = disabled.json(), wrong.json()
    del body_a["request_id"], body_b["request_id"]
    assert (disabled.status_code, body_a) == (wrong.status_code, body_b)


async def test_a_disabled_account_cannot_refresh(client: Client, db: asyncpg.Pool[Any]) -> None:
    user = await signed_in_user(client)
    await set_active(db, user.id, False)

    expect_problem(await refresh(client, user.refresh_token), 401, "INVALID_TOKEN")


async def test_a_disabled_accounts_access_token_is_rejected_at_once_without_session_cache(
    uncached_client: Client, client: Client, db: asyncpg.Pool[Any]
) -> None:
    user = await signed_in_user(client)
    expect_data(await uncached_client.get("/users/me", headers=user.headers))

    await set_active(db, user.id, False)

    expect_problem(await uncached_client.get("/users/me", headers=user.headers), 401, "INVALID_TOKEN")


async def test_a_re_enabled_account_can_log_in_again(client: Client, db: asyncpg.Pool[Any]) -> None:
    user = await signed_in_user(client)
    await set_active(db, user.id, False)
    await set_active(db, user.id, True)

    response = await client.post("/auth/login", json={"login": user.email, "password": user.password})

    expect_data(response)
