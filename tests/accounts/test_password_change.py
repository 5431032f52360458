"""POST /auth/password/change: needs the current password and a policy-conforming new one; ends
every other session of the account while the caller's session keeps working."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
import httpx
import jwt
import pytest

from tests.factories import (
    Client,
    User,
    another_session,
    assert_no_secrets,
    expect_data,
    expect_no_content,
    expect_problem,
    refresh,
    signed_in_user,
    unique,
)

NEW_PASSWORD = "a different passphrase"


async def _change(client: Client, user: User, current: str, new: str = NEW_PASSWORD) -> httpx.Response:
    return await client.post(
        "/auth/password/change",
        json={"current_password": current, "new_password": new},
        headers=user.headers,
    )


async def _login_status(client: Client, login: str, password: str) -> int:
    response = await client.post("/auth/login", json={"login": login, "password": password})
    return response.status_code


async def test_change_sets_the_new_password(client: Client, db: asyncpg.Pool[Any]) -> None:
    user = await signed_in_user(client)
    before = await db.fetchval("SELECT password_hash FROM users WHERE id = $1", UUID(user.id))

    expect_no_content(await _change(client, user, user.password))

    assert await _login_status(client, user.email, NEW_PASSWORD) == 200
    assert await _login_status(client, user.email, user.password) == 401
    after = await db.fetchval("SELECT password_hash FROM users WHERE id = $1", UUID(user.id))
    assert after != before
    assert after.startswith("$argon2id$")


async def test_change_keeps_the_current_session_working(client: Client) -> None:
    user = await signed_in_user(client)

    expect_no_content(await _change(client, user, user.password))

    assert expect_data(await client.get("/users/me", headers=user.headers))["id"] == user.id
    expect_data(await refresh(client, user.refresh_token))


async def test_change_ends_the_other_sessions(client: Client, db: asyncpg.Pool[Any]) -> None:
    user = await signed_in_user(client)
    other = await another_session(client, user)
    expect_data(await client.get("/users/me", headers=other.headers))  # now cached as active

    expect_no_content(await _change(client, user, user.password))

    expect_problem(await client.get("/users/me", headers=other.headers), 401, "INVALID_TOKEN")
    expect_problem(await refresh(client, other.refresh_token), 401, "INVALID_TOKEN")
    other_sid = jwt.decode(other.access_token, options={"verify_signature": False})["sid"]
    reason = await db.fetchval("SELECT revoked_reason FROM auth_sessions WHERE id = $1", UUID(other_sid))
    assert reason == "password_changed"


async def test_change_with_a_wrong_current_password_is_refused(client: Client) -> None:
    user = await signed_in_user(client)

    response = await _change(client, user, "not my password")

    expect_problem(response, 422, "INVALID_CREDENTIALS", path="$.current_password")
    assert_no_secrets(response, "not my password", NEW_PASSWORD)


async def test_a_refused_change_keeps_the_password_and_the_sessions(client: Client) -> None:
    user = await signed_in_user(client)
    other = await another_session(client, user)

    expect_problem(await _change(client, user, "not my password"), 422, "INVALID_CREDENTIALS")

    assert await _login_status(client, user.email, user.password) == 200
    assert await _login_status(client, user.email, NEW_PASSWORD) == 401
    expect_data(await client.get("/users/me", headers=other.headers))


async def test_change_rejects_a_new_password_equal_to_the_username(client: Client) -> None:
    user = await signed_in_user(client, username=unique("longname"))

    response = await _change(client, user, user.password, user.username.upper())

    expect_problem(response, 422, "WEAK_PASSWORD", path="$.new_password")
    assert await _login_status(client, user.email, user.password) == 200


async def test_change_rejects_a_new_password_equal_to_the_email(client: Client) -> None:
    user = await signed_in_user(client)

    response = await _change(client, user, user.password, user.email)

    expect_problem(response, 422, "WEAK_PASSWORD", path="$.new_password")


@pytest.mark.parametrize("new_password", ["x" * 9, "x" * 129, "nul\x00password", None, " " * 12])
async def test_change_rejects_an_invalid_new_password_with_422(client: Client, new_password: Any) -> None:
    user = await signed_in_user(client)

    response = await _change(client, user, user.password, new_password)

    expect_problem(response, 422, "VALIDATION_ERROR", path="$.new_password")


@pytest.mark.parametrize("current_password", ["", "x" * 129, None])
async def test_change_rejects_an_invalid_current_password_with_422(
    client: Client, current_password: Any
) -> None:
    user = await signed_in_user(client)

    response = await _change(client, user, current_password)

    expect_problem(response, 422, "VALIDATION_ERROR", path="$.current_password")
