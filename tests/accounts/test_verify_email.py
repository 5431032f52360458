"""POST /auth/verify-email and /auth/verify-email/resend: one-time tokens, stored hashed,
refused when unknown, expired, already used, of the wrong purpose or of a deleted account."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest

from tests.factories import (
    OWNER_FIELDS,
    Client,
    bearer,
    emailed_token,
    expect_data,
    expect_no_content,
    expect_problem,
    expire_email_token,
    login,
    register,
    signed_in_user,
    token_digest,
)


async def _verify(client: Client, token: str) -> httpx.Response:
    return await client.post("/auth/verify-email", json={"token": token})


async def _verification_emails(db: asyncpg.Pool[Any], user_id: str) -> int:
    return await db.fetchval(
        "SELECT count(*) FROM email_outbox WHERE user_id = $1 AND template = 'verify_email'", UUID(user_id)
    )


async def test_verify_email_marks_the_account_verified(client: Client, db: asyncpg.Pool[Any]) -> None:
    account = await register(client)
    token = await emailed_token(db, account["email"], "verify_email")

    data = expect_data(await _verify(client, token))

    assert set(data) == OWNER_FIELDS
    assert data["id"] == account["id"]
    assert data["email_verified"] is True
    verified_at = await db.fetchval("SELECT email_verified_at FROM users WHERE id = $1", UUID(account["id"]))
    assert verified_at is not None


async def test_verify_email_spends_the_token(client: Client, db: asyncpg.Pool[Any]) -> None:
    account = await register(client)
    token = await emailed_token(db, account["email"], "verify_email")

    expect_data(await _verify(client, token))

    used_at = await db.fetchval("SELECT used_at FROM email_tokens WHERE token_hash = $1", token_digest(token))
    assert used_at is not None


async def test_verify_email_token_cannot_be_used_twice(client: Client, db: asyncpg.Pool[Any]) -> None:
    account = await register(client)
    token = await emailed_token(db, account["email"], "verify_email")
    expect_data(await _verify(client, token))

    expect_problem(await _verify(client, token), 400, "INVALID_TOKEN")


async def test_concurrent_verifications_with_one_token_succeed_once(
    client: Client, db: asyncpg.Pool[Any]
) -> None:
    account = await register(client)
    token = await emailed_token(db, account["email"], "verify_email")

    responses = await asyncio.gather(*(_verify(client, token) for _ in range(4)))

    assert sorted(r.status_code for r in responses) == [200, 400, 400, 400]
    for response in (r for r in responses if r.status_code == 400):
        expect_problem(response, 400, "INVALID_TOKEN")


async def test_verify_email_rejects_an_expired_token(client: Client, db: asyncpg.Pool[Any]) -> None:
    account = await register(client)
    token = await emailed_token(db, account["email"], "verify_email")
    await expire_email_token(db, token)

    expect_problem(await _verify(client, token), 400, "INVALID_TOKEN")

    verified_at = await db.fetchval("SELECT email_verified_at FROM users WHERE id = $1", UUID(account["id"]))
    assert verified_at is None


async def test_verify_email_rejects_an_unknown_token(client: Client) -> None:
    expect_problem(await _verify(client, "no-such-token-0123456789"), 400, "INVALID_TOKEN")


async def test_verify_email_rejects_a_password_reset_token(client: Client, db: asyncpg.Pool[Any]) -> None:
    account = await register(client)
    await client.post("/auth/password-reset/request", json={"email": account["email"]})
    reset_token = await emailed_token(db, account["email"], "password_reset")

    expect_problem(await _verify(client, reset_token), 400, "INVALID_TOKEN")


async def test_verify_email_rejects_the_token_of_a_deleted_account(
    client: Client, db: asyncpg.Pool[Any]
) -> None:
    user = await signed_in_user(client)
    token = await emailed_token(db, user.email, "verify_email")
    expect_no_content(await client.delete("/users/me", headers=user.headers))

    expect_problem(await _verify(client, token), 400, "INVALID_TOKEN")


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("", id="empty"),
        pytest.param("has space", id="space"),
        pytest.param("x" * 513, id="too-long"),
        pytest.param("tok\x00en", id="nul"),
        pytest.param(12345, id="number"),
        pytest.param(None, id="null"),
    ],
)
async def test_verify_email_rejects_a_malformed_token_with_422(client: Client, token: object) -> None:
    response = await client.post("/auth/verify-email", json={"token": token})

    expect_problem(response, 422, "VALIDATION_ERROR", path="$.token")


async def test_verify_email_requires_the_token_field(client: Client) -> None:
    response = await client.post("/auth/verify-email", json={})

    expect_problem(response, 422, "VALIDATION_ERROR", path="$")


# ---- resend ---------------------------------------------------------------------------------


async def test_resend_requires_authentication(client: Client) -> None:
    response = await client.post("/auth/verify-email/resend")

    expect_problem(response, 401, "AUTHENTICATION_REQUIRED")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_resend_queues_a_new_working_link_for_an_unverified_account(
    client: Client, db: asyncpg.Pool[Any]
) -> None:
    user = await signed_in_user(client)
    first = await emailed_token(db, user.email, "verify_email")

    data = expect_data(await client.post("/auth/verify-email/resend", headers=user.headers), 202)

    assert data["message"]
    assert await _verification_emails(db, user.id) == 2
    second = await emailed_token(db, user.email, "verify_email")
    assert second != first
    assert expect_data(await _verify(client, second))["email_verified"] is True


async def test_using_one_verification_token_retires_the_others(client: Client, db: asyncpg.Pool[Any]) -> None:
    user = await signed_in_user(client)
    first = await emailed_token(db, user.email, "verify_email")
    await client.post("/auth/verify-email/resend", headers=user.headers)
    second = await emailed_token(db, user.email, "verify_email")

    expect_data(await _verify(client, second))

    expect_problem(await _verify(client, first), 400, "INVALID_TOKEN")


async def test_resend_sends_nothing_to_a_verified_account(client: Client, db: asyncpg.Pool[Any]) -> None:
    account = await register(client)
    expect_data(await _verify(client, await emailed_token(db, account["email"], "verify_email")))
    tokens = await login(client, account["email"])
    headers = bearer(tokens["access_token"])

    expect_data(await client.post("/auth/verify-email/resend", headers=headers), 202)

    assert await _verification_emails(db, account["id"]) == 1
