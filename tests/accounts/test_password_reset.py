"""POST /auth/password-reset/request and /confirm: the same answer for known and unknown
addresses, an email only for real accounts, one-time hashed tokens, and every session ended."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest

from tests.factories import (
    Client,
    User,
    another_session,
    assert_no_secrets,
    emailed_token,
    expect_data,
    expect_no_content,
    expect_problem,
    expire_email_token,
    refresh,
    register,
    set_active,
    signed_in_user,
    token_digest,
    unique,
)

NEW_PASSWORD = "a brand new passphrase"


async def _request(client: Client, email: str) -> httpx.Response:
    return await client.post("/auth/password-reset/request", json={"email": email})


async def _confirm(client: Client, token: str, new_password: str = NEW_PASSWORD) -> httpx.Response:
    return await client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": new_password}
    )


async def _reset_emails(db: asyncpg.Pool[Any], address: str) -> int:
    return await db.fetchval(
        "SELECT count(*) FROM email_outbox"
        " WHERE lower(to_address) = lower($1) AND template = 'password_reset'",
        address,
    )


async def _login_status(client: Client, login: str, password: str) -> int:
    response = await client.post("/auth/login", json={"login": login, "password": password})
    return response.status_code


async def _reset_token_for(client: Client, db: asyncpg.Pool[Any], email: str) -> str:
    expect_data(await _request(client, email), 202)
    return await emailed_token(db, email, "password_reset")


# ---- request --------------------------------------------------------------------------------


async def test_request_for_a_known_address_is_202_and_queues_one_email(
    client: Client, db: asyncpg.Pool[Any]
) -> None:
    account = await register(client)

    data = expect_data(await _request(client, account["email"]), 202)

    assert data["message"]
    assert await _reset_emails(db, account["email"]) == 1


async def test_request_for_an_unknown_address_is_202_and_queues_nothing(
    client: Client, db: asyncpg.Pool[Any]
) -> None:
    address = f"{unique('ghost')}@example.com"

    expect_data(await _request(client, address), 202)

    assert await _reset_emails(db, address) == 0


async def test_request_answers_known_and_unknown_addresses_identically(client: Client) -> None:
    account = await register(client)

    known = await _request(client, account["email"])
    unknown = await _request(client, f"{unique('ghost')}@example.com")

    assert known.status_code == unknown.status_code == 202
    assert known.headers["content-type"] == unknown.headers["content-type"]
    assert known.json() == unknown.json()
    assert "request_id" not in known.json()


async def test_request_matches_the_address_regardless_of_case(client: Client, db: asyncpg.Pool[Any]) -> None:
    account = await register(client)

    expect_data(await _request(client, account["email"].upper()), 202)

    to_address = await db.fetchval(
        "SELECT to_address FROM email_outbox WHERE user_id = $1 AND template = 'password_reset'",
        UUID(account["id"]),
    )
    assert to_address == account["email"]


async def test_request_stores_only_the_digest_of_the_reset_token(
    client: Client, db: asyncpg.Pool[Any]
) -> None:
    account = await register(client)
    token = await _reset_token_for(client, db, account["email"])

    row = await db.fetchrow(
        "SELECT token_hash, t::text AS as_text FROM email_tokens AS t"
        " WHERE user_id = $1 AND purpose = 'password_reset'",
        UUID(account["id"]),
    )

    assert row is not None
    assert row["token_hash"] == token_digest(token)
    assert token not in row["as_text"]


async def test_request_for_a_disabled_account_queues_nothing(client: Client, db: asyncpg.Pool[Any]) -> None:
    account = await register(client)
    await set_active(db, account["id"], False)

    expect_data(await _request(client, account["email"]), 202)

    assert await _reset_emails(db, account["email"]) == 0


@pytest.mark.parametrize("email", ["not-an-email", "", "a\x00@example.com", None])
async def test_request_rejects_an_invalid_email_with_422(client: Client, email: object) -> None:
    response = await client.post("/auth/password-reset/request", json={"email": email})

    expect_problem(response, 422, "VALIDATION_ERROR", path="$.email")


# ---- confirm --------------------------------------------------------------------------------


async def test_confirm_sets_the_new_password(client: Client, db: asyncpg.Pool[Any]) -> None:
    account = await register(client)
    token = await _reset_token_for(client, db, account["email"])

    expect_no_content(await _confirm(client, token))

    assert await _login_status(client, account["email"], NEW_PASSWORD) == 200
    assert await _login_status(client, account["email"], account["password"]) == 401
    stored = await db.fetchval("SELECT password_hash FROM users WHERE id = $1", UUID(account["id"]))
    assert stored.startswith("$argon2id$")


async def test_confirm_ends_every_session_of_the_account(client: Client, db: asyncpg.Pool[Any]) -> None:
    user = await signed_in_user(client)
    other = await another_session(client, user)
    for session in (user, other):  # cached as active on this worker
        expect_data(await client.get("/users/me", headers=session.headers))
    token = await _reset_token_for(client, db, user.email)

    expect_no_content(await _confirm(client, token))

    for session in (user, other):
        expect_problem(await client.get("/users/me", headers=session.headers), 401, "INVALID_TOKEN")
        expect_problem(await refresh(client, session.refresh_token), 401, "INVALID_TOKEN")
    reasons = await db.fetch("SELECT revoked_reason FROM auth_sessions WHERE user_id = $1", UUID(user.id))
    assert [r["revoked_reason"] for r in reasons] == ["password_reset", "password_reset"]


async def test_confirm_token_cannot_be_used_twice(client: Client, db: asyncpg.Pool[Any]) -> None:
    account = await register(client)
    token = await _reset_token_for(client, db, account["email"])
    expect_no_content(await _confirm(client, token))

    expect_problem(await _confirm(client, token, "yet another passphrase"), 400, "INVALID_TOKEN")

    assert await _login_status(client, account["email"], NEW_PASSWORD) == 200


async def test_concurrent_confirms_with_one_token_succeed_once(client: Client, db: asyncpg.Pool[Any]) -> None:
    account = await register(client)
    token = await _reset_token_for(client, db, account["email"])
    passwords = [f"concurrent passphrase {i}" for i in range(4)]

    responses = await asyncio.gather(*(_confirm(client, token, p) for p in passwords))

    assert sorted(r.status_code for r in responses) == [204, 400, 400, 400]
    winner = passwords[[r.status_code for r in responses].index(204)]
    assert await _login_status(client, account["email"], winner) == 200


async def test_confirm_rejects_an_expired_token(client: Client, db: asyncpg.Pool[Any]) -> None:
    account = await register(client)
    token = await _reset_token_for(client, db, account["email"])
    await expire_email_token(db, token)

    expect_problem(await _confirm(client, token), 400, "INVALID_TOKEN")

    assert await _login_status(client, account["email"], account["password"]) == 200


async def test_confirm_rejects_an_unknown_token(client: Client) -> None:
    expect_problem(await _confirm(client, "never-issued-0123456789"), 400, "INVALID_TOKEN")


async def test_confirm_rejects_an_email_verification_token(client: Client, db: asyncpg.Pool[Any]) -> None:
    account = await register(client)
    verify_token = await emailed_token(db, account["email"], "verify_email")

    expect_problem(await _confirm(client, verify_token), 400, "INVALID_TOKEN")


async def test_using_one_reset_token_retires_the_others(client: Client, db: asyncpg.Pool[Any]) -> None:
    account = await register(client)
    first = await _reset_token_for(client, db, account["email"])
    second = await _reset_token_for(client, db, account["email"])

    expect_no_content(await _confirm(client, second))

    expect_problem(await _confirm(client, first, "yet another passphrase"), 400, "INVALID_TOKEN")


async def test_confirm_rejects_a_new_password_equal_to_the_email(
    client: Client, db: asyncpg.Pool[Any]
) -> None:
    account = await register(client)
    token = await _reset_token_for(client, db, account["email"])

    response = await _confirm(client, token, account["email"].upper())

    expect_problem(response, 422, "WEAK_PASSWORD", path="$.new_password")
    assert_no_secrets(response, account["email"].upper())


async def test_a_refused_new_password_leaves_the_token_usable(client: Client, db: asyncpg.Pool[Any]) -> None:
    account = await register(client)
    token = await _reset_token_for(client, db, account["email"])
    expect_problem(await _confirm(client, token, account["username"]), 422, "WEAK_PASSWORD")

    expect_no_content(await _confirm(client, token))


@pytest.mark.parametrize("new_password", ["x" * 9, "x" * 129, "nul\x00password", None])
async def test_confirm_rejects_an_invalid_new_password_with_422(client: Client, new_password: object) -> None:
    response = await client.post(
        "/auth/password-reset/confirm", json={"token": "abc", "new_password": new_password}
    )

    expect_problem(response, 422, "VALIDATION_ERROR", path="$.new_password")


async def test_confirm_for_a_deleted_account_is_400(client: Client, db: asyncpg.Pool[Any]) -> None:
    user: User = await signed_in_user(client)
    token = await _reset_token_for(client, db, user.email)
    expect_no_content(await client.delete("/users/me", headers=user.headers))

    expect_problem(await _confirm(client, token), 400, "INVALID_TOKEN")
