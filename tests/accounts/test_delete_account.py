"""DELETE /users/me: a soft delete that ends every session, blocks sign-in, hides the public
profile, and frees the email and username for a new registration."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
import pytest

from tests.factories import (
    Client,
    User,
    another_session,
    bearer,
    expect_data,
    expect_no_content,
    expect_problem,
    new_account,
    refresh,
    signed_in_user,
)


@pytest.fixture
async def deleted_user(client: Client) -> User:
    """A user who signed in and then deleted the account."""
    user = await signed_in_user(client)
    expect_data(await client.get("/users/me", headers=user.headers))  # now cached as active
    expect_no_content(await client.delete("/users/me", headers=user.headers))
    return user


async def test_delete_me_is_204_and_soft_deletes_the_row(
    client: Client, db: asyncpg.Pool[Any], deleted_user: User
) -> None:
    deleted_at = await db.fetchval("SELECT deleted_at FROM users WHERE id = $1", UUID(deleted_user.id))

    assert deleted_at is not None


@pytest.mark.parametrize("login_with", ["email", "username"])
async def test_a_deleted_account_cannot_log_in(client: Client, deleted_user: User, login_with: str) -> None:
    login = getattr(deleted_user, login_with)

    response = await client.post("/auth/login", json={"login": login, "password": deleted_user.password})

    expect_problem(response, 401, "INVALID_CREDENTIALS")


async def test_a_deleted_accounts_access_token_is_rejected(client: Client, deleted_user: User) -> None:
    response = await client.get("/users/me", headers=deleted_user.headers)

    expect_problem(response, 401, "INVALID_TOKEN")


async def test_a_deleted_accounts_refresh_token_is_rejected(client: Client, deleted_user: User) -> None:
    expect_problem(await refresh(client, deleted_user.refresh_token), 401, "INVALID_TOKEN")


async def test_delete_me_ends_every_session(client: Client, db: asyncpg.Pool[Any]) -> None:
    user = await signed_in_user(client)
    other = await another_session(client, user)
    expect_data(await client.get("/users/me", headers=other.headers))  # now cached as active

    expect_no_content(await client.delete("/users/me", headers=user.headers))

    expect_problem(await client.get("/users/me", headers=other.headers), 401, "INVALID_TOKEN")
    expect_problem(await refresh(client, other.refresh_token), 401, "INVALID_TOKEN")
    reasons = await db.fetch("SELECT revoked_reason FROM auth_sessions WHERE user_id = $1", UUID(user.id))
    assert [r["revoked_reason"] for r in reasons] == ["account_deleted", "account_deleted"]


async def test_a_deleted_accounts_public_profile_is_404(client: Client, deleted_user: User) -> None:
    viewer = await signed_in_user(client)

    response = await client.get(f"/users/{deleted_user.id}", headers=viewer.headers)

    expect_problem(response, 404, "NOT_FOUND")


async def test_a_deleted_accounts_email_and_username_can_register_again(
    client: Client, deleted_user: User
) -> None:
    body = new_account(email=deleted_user.email.upper(), username=deleted_user.username)

    data = expect_data(await client.post("/auth/register", json=body), 201)

    assert data["id"] != deleted_user.id
    response = await client.post(
        "/auth/login", json={"login": deleted_user.email, "password": body["password"]}
    )
    tokens = expect_data(response)
    me = expect_data(await client.get("/users/me", headers=bearer(tokens["access_token"])))
    assert me["id"] == data["id"]


async def test_deleting_twice_with_the_same_token_is_401(client: Client, deleted_user: User) -> None:
    response = await client.delete("/users/me", headers=deleted_user.headers)

    expect_problem(response, 401, "INVALID_TOKEN")
