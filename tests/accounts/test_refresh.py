"""POST /auth/refresh: rotation (the presented token is spent, the new one stored hashed), reuse
of a spent token revokes its whole session, concurrent use of one token, and validation."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import asyncpg
import jwt
import pytest

from tests.factories import (
    Client,
    User,
    another_session,
    bearer,
    digest_forms,
    expect_data,
    expect_no_content,
    expect_problem,
    refresh,
    signed_in_user,
    token_digest,
)


def _session_id(access_token: str) -> UUID:
    return UUID(jwt.decode(access_token, options={"verify_signature": False})["sid"])


async def test_refresh_returns_a_new_token_pair_for_the_same_session(client: Client) -> None:
    user = await signed_in_user(client)

    response = await refresh(client, user.refresh_token)

    data = expect_data(response)
    assert data["token_type"] == "bearer"
    assert data["expires_in"] == 900
    assert data["refresh_token"] != user.refresh_token
    assert data["access_token"] != user.access_token
    assert _session_id(data["access_token"]) == _session_id(user.access_token)
    for form in (*digest_forms(user.refresh_token), *digest_forms(data["refresh_token"])):
        assert form not in response.text


async def test_refreshed_tokens_work(client: Client) -> None:
    user = await signed_in_user(client)
    data = expect_data(await refresh(client, user.refresh_token))

    assert expect_data(await client.get("/users/me", headers=bearer(data["access_token"])))["id"] == user.id
    expect_data(await refresh(client, data["refresh_token"]))


async def test_refresh_spends_the_old_token_and_stores_the_new_one_hashed(
    client: Client, db: asyncpg.Pool[Any]
) -> None:
    user = await signed_in_user(client)
    data = expect_data(await refresh(client, user.refresh_token))

    rows = await db.fetch(
        "SELECT token_hash, used_at, t::text AS as_text FROM refresh_tokens AS t WHERE session_id = $1",
        _session_id(user.access_token),
    )

    by_hash = {bytes(r["token_hash"]): r for r in rows}
    assert set(by_hash) == {token_digest(user.refresh_token), token_digest(data["refresh_token"])}
    assert by_hash[token_digest(user.refresh_token)]["used_at"] is not None
    assert by_hash[token_digest(data["refresh_token"])]["used_at"] is None
    for row in rows:
        assert user.refresh_token not in row["as_text"]
        assert data["refresh_token"] not in row["as_text"]


async def test_refresh_records_the_new_user_agent_on_the_session(client: Client) -> None:
    user = await signed_in_user(client)
    data = expect_data(
        await client.post(
            "/auth/refresh",
            json={"refresh_token": user.refresh_token},
            headers={"User-Agent": "pytest-refresher/3.0"},
        )
    )

    sessions = expect_data(await client.get("/auth/sessions", headers=bearer(data["access_token"])))

    assert [s["user_agent"] for s in sessions] == ["pytest-refresher/3.0"]


async def test_refresh_with_an_unknown_token_is_401_invalid_token(client: Client) -> None:
    response = await refresh(client, "never-issued-0123456789abcdef")

    expect_problem(response, 401, "INVALID_TOKEN")


# ---- reuse detection ------------------------------------------------------------------------


async def test_reusing_a_spent_refresh_token_is_401_invalid_token(client: Client) -> None:
    user = await signed_in_user(client)
    expect_data(await refresh(client, user.refresh_token))

    expect_problem(await refresh(client, user.refresh_token), 401, "INVALID_TOKEN")


async def test_reuse_revokes_the_session_in_the_database(client: Client, db: asyncpg.Pool[Any]) -> None:
    user = await signed_in_user(client)
    expect_data(await refresh(client, user.refresh_token))

    await refresh(client, user.refresh_token)

    reason = await db.fetchval(
        "SELECT revoked_reason FROM auth_sessions WHERE id = $1", _session_id(user.access_token)
    )
    assert reason == "reuse_detected"


async def test_reuse_also_kills_the_newer_refresh_token_of_the_family(client: Client) -> None:
    user = await signed_in_user(client)
    newer = expect_data(await refresh(client, user.refresh_token))

    await refresh(client, user.refresh_token)

    expect_problem(await refresh(client, newer["refresh_token"]), 401, "INVALID_TOKEN")


async def test_reuse_rejects_the_access_tokens_of_the_session(client: Client) -> None:
    user = await signed_in_user(client)
    newer = expect_data(await refresh(client, user.refresh_token))
    expect_data(await client.get("/users/me", headers=bearer(newer["access_token"])))

    await refresh(client, user.refresh_token)

    for access_token in (user.access_token, newer["access_token"]):
        expect_problem(await client.get("/users/me", headers=bearer(access_token)), 401, "INVALID_TOKEN")


async def test_reuse_leaves_the_users_other_sessions_alone(client: Client) -> None:
    user = await signed_in_user(client)
    other = await another_session(client, user)
    expect_data(await refresh(client, user.refresh_token))

    await refresh(client, user.refresh_token)

    expect_data(await client.get("/users/me", headers=other.headers))
    expect_data(await refresh(client, other.refresh_token))


async def test_concurrent_refreshes_with_one_token_succeed_at_most_once(client: Client) -> None:
    user = await signed_in_user(client)

    responses = await asyncio.gather(*(refresh(client, user.refresh_token) for _ in range(5)))

    assert sorted(r.status_code for r in responses) == [200, 401, 401, 401, 401]
    for response in (r for r in responses if r.status_code == 401):
        expect_problem(response, 401, "INVALID_TOKEN")


# ---- ended sessions -------------------------------------------------------------------------


async def test_refresh_after_logout_is_401_invalid_token(client: Client) -> None:
    user = await signed_in_user(client)
    expect_no_content(await client.post("/auth/logout", headers=user.headers))

    expect_problem(await refresh(client, user.refresh_token), 401, "INVALID_TOKEN")


async def test_refresh_of_an_expired_session_is_401_invalid_token(
    client: Client, db: asyncpg.Pool[Any]
) -> None:
    user: User = await signed_in_user(client)
    await db.execute(
        "UPDATE auth_sessions SET expires_at = now() - interval '1 minute' WHERE id = $1",
        _session_id(user.access_token),
    )

    expect_problem(await refresh(client, user.refresh_token), 401, "INVALID_TOKEN")


# ---- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("", id="empty"),
        pytest.param("x" * 513, id="too-long"),
        pytest.param("has space", id="space"),
        pytest.param("tok\x00en", id="nul"),
        pytest.param(None, id="null"),
        pytest.param(["a"], id="list"),
    ],
)
async def test_refresh_rejects_a_malformed_token_with_422(client: Client, token: object) -> None:
    response = await client.post("/auth/refresh", json={"refresh_token": token})

    expect_problem(response, 422, "VALIDATION_ERROR", path="$.refresh_token")


async def test_refresh_requires_the_refresh_token_field(client: Client) -> None:
    problem = expect_problem(await client.post("/auth/refresh", json={}), 422, "VALIDATION_ERROR", path="$")

    assert "refresh_token" in problem["errors"][0]["message"]
