"""POST /auth/logout, GET /auth/sessions (keyset pagination) and DELETE /auth/sessions/{id}:
a user sees and ends only their own sessions; an ended session's tokens stop working."""

from __future__ import annotations

import base64
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
    expect_data,
    expect_no_content,
    expect_problem,
    refresh,
    signed_in_user,
)

SESSION_FIELDS = {"id", "user_agent", "ip", "created_at", "last_used_at", "expires_at", "current"}


def _session_id(user: User) -> str:
    return jwt.decode(user.access_token, options={"verify_signature": False})["sid"]


async def _sessions(client: Client, user: User, **params: Any) -> httpx.Response:
    return await client.get("/auth/sessions", params=params, headers=user.headers)


async def _all_session_ids(client: Client, user: User) -> list[str]:
    return [s["id"] for s in expect_data(await _sessions(client, user, limit=100))]


# ---- logout ---------------------------------------------------------------------------------


async def test_logout_is_204_with_no_body(client: Client) -> None:
    user = await signed_in_user(client)

    expect_no_content(await client.post("/auth/logout", headers=user.headers))


async def test_logout_rejects_the_access_token_afterwards(client: Client) -> None:
    user = await signed_in_user(client)
    expect_data(await client.get("/users/me", headers=user.headers))  # now cached as active

    expect_no_content(await client.post("/auth/logout", headers=user.headers))

    expect_problem(await client.get("/users/me", headers=user.headers), 401, "INVALID_TOKEN")


async def test_logout_rejects_the_refresh_token_afterwards(client: Client) -> None:
    user = await signed_in_user(client)

    expect_no_content(await client.post("/auth/logout", headers=user.headers))

    expect_problem(await refresh(client, user.refresh_token), 401, "INVALID_TOKEN")


async def test_logout_records_the_reason(client: Client, db: asyncpg.Pool[Any]) -> None:
    user = await signed_in_user(client)

    expect_no_content(await client.post("/auth/logout", headers=user.headers))

    row = await db.fetchrow(
        "SELECT revoked_at, revoked_reason FROM auth_sessions WHERE id = $1", UUID(_session_id(user))
    )
    assert row is not None
    assert row["revoked_at"] is not None
    assert row["revoked_reason"] == "logout"


async def test_logout_ends_only_the_current_session(client: Client) -> None:
    user = await signed_in_user(client)
    other = await another_session(client, user)

    expect_no_content(await client.post("/auth/logout", headers=user.headers))

    expect_data(await client.get("/users/me", headers=other.headers))
    expect_data(await refresh(client, other.refresh_token))


async def test_logout_twice_is_401(client: Client) -> None:
    user = await signed_in_user(client)
    expect_no_content(await client.post("/auth/logout", headers=user.headers))

    expect_problem(await client.post("/auth/logout", headers=user.headers), 401, "INVALID_TOKEN")


# ---- listing --------------------------------------------------------------------------------


async def test_sessions_lists_the_callers_sessions_newest_first(client: Client) -> None:
    user = await signed_in_user(client)
    other = await another_session(client, user)

    response = await _sessions(client, user)

    data = expect_data(response)
    assert [s["id"] for s in data] == [_session_id(other), _session_id(user)]
    assert all(set(s) == SESSION_FIELDS for s in data)
    assert response.json()["meta"] == {"next_cursor": None, "has_more": False}


async def test_sessions_marks_only_the_callers_session_as_current(client: Client) -> None:
    user = await signed_in_user(client)
    other = await another_session(client, user)

    data = expect_data(await _sessions(client, other))

    assert {s["id"]: s["current"] for s in data} == {_session_id(other): True, _session_id(user): False}


async def test_sessions_show_the_user_agent_of_the_login(client: Client) -> None:
    user = await signed_in_user(client)
    await client.post(
        "/auth/login",
        json={"login": user.email, "password": user.password},
        headers={"User-Agent": "pytest-agent/2.0"},
    )

    data = expect_data(await _sessions(client, user))

    assert [s["user_agent"] for s in data] == ["pytest-agent/2.0", "testclient"]


async def test_sessions_omit_ended_sessions(client: Client) -> None:
    user = await signed_in_user(client)
    other = await another_session(client, user)
    expect_no_content(await client.post("/auth/logout", headers=other.headers))

    assert await _all_session_ids(client, user) == [_session_id(user)]


async def test_sessions_omit_expired_sessions(client: Client, db: asyncpg.Pool[Any]) -> None:
    user = await signed_in_user(client)
    other = await another_session(client, user)
    await db.execute(
        "UPDATE auth_sessions SET expires_at = now() - interval '1 minute' WHERE id = $1",
        UUID(_session_id(other)),
    )

    assert await _all_session_ids(client, user) == [_session_id(user)]


async def test_sessions_never_include_another_users_sessions(client: Client) -> None:
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    bob_other = await another_session(client, bob)

    alice_ids = await _all_session_ids(client, alice)

    assert alice_ids == [_session_id(alice)]
    assert _session_id(bob) not in alice_ids
    assert _session_id(bob_other) not in alice_ids


# ---- pagination -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def five_sessions(client: Client) -> tuple[User, list[str]]:
    """A user with five live sessions, and their ids newest first."""
    user = await signed_in_user(client)
    sessions = [user]
    for _ in range(4):
        sessions.append(await another_session(client, user))
    return sessions[-1], [_session_id(s) for s in reversed(sessions)]


async def test_sessions_pages_walk_every_session_once_in_order(
    client: Client, five_sessions: tuple[User, list[str]]
) -> None:
    user, expected_ids = five_sessions
    seen: list[str] = []
    pages: list[tuple[int, bool]] = []
    cursor: str | None = None

    for _ in range(10):  # bounded, so a cursor that never ends fails instead of hanging
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        response = await _sessions(client, user, **params)
        data, meta = expect_data(response), response.json()["meta"]
        seen += [s["id"] for s in data]
        pages.append((len(data), meta["has_more"]))
        cursor = meta["next_cursor"]
        if cursor is None:
            break

    assert pages == [(2, True), (2, True), (1, False)]
    assert seen == expected_ids


async def test_sessions_next_page_is_stable_when_a_new_session_starts(client: Client) -> None:
    first = await signed_in_user(client)
    second = await another_session(client, first)
    third = await another_session(client, first)
    page_one = await _sessions(client, third, limit=2)
    cursor = page_one.json()["meta"]["next_cursor"]

    await another_session(client, first)  # newer than every listed session
    page_two = expect_data(await _sessions(client, third, limit=2, cursor=cursor))

    assert [s["id"] for s in expect_data(page_one)] == [_session_id(third), _session_id(second)]
    assert [s["id"] for s in page_two] == [_session_id(first)]


async def test_sessions_last_full_page_has_no_next_cursor(
    client: Client, five_sessions: tuple[User, list[str]]
) -> None:
    user, expected_ids = five_sessions

    response = await _sessions(client, user, limit=5)

    assert [s["id"] for s in expect_data(response)] == expected_ids
    assert response.json()["meta"] == {"next_cursor": None, "has_more": False}


@pytest.mark.parametrize("limit", [1, 100])
async def test_sessions_accepts_limit_at_the_bounds(
    client: Client, five_sessions: tuple[User, list[str]], limit: int
) -> None:
    user, expected_ids = five_sessions

    data = expect_data(await _sessions(client, user, limit=limit))

    assert [s["id"] for s in data] == expected_ids[:limit]


async def test_sessions_default_page_size_is_20(client: Client, db: asyncpg.Pool[Any]) -> None:
    user = await signed_in_user(client)
    # 21 more sessions written directly: 21 logins would cost 21 password checks.
    await db.execute(
        "INSERT INTO auth_sessions (id, user_id, expires_at)"
        " SELECT gen_random_uuid(), $1, now() + interval '1 day' FROM generate_series(1, 21)",
        UUID(user.id),
    )

    response = await _sessions(client, user)

    assert len(expect_data(response)) == 20
    assert response.json()["meta"]["has_more"] is True


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("not-a-cursor", id="garbage"),
        pytest.param("", id="empty"),
        pytest.param("\u00e9t\u00e9", id="non-ascii"),
        pytest.param(base64.urlsafe_b64encode(b'["not-a-uuid"]').decode(), id="not-a-uuid"),
        pytest.param(base64.urlsafe_b64encode(b'{"id": "x"}').decode(), id="wrong-shape"),
        pytest.param(base64.urlsafe_b64encode(b"[]").decode(), id="empty-key"),
    ],
)
async def test_sessions_rejects_an_invalid_cursor_with_422_invalid_cursor(
    client: Client, five_sessions: tuple[User, list[str]], cursor: str
) -> None:
    user, _ = five_sessions

    response = await _sessions(client, user, cursor=cursor)

    problem = expect_problem(response, 422, "INVALID_CURSOR", path="cursor")
    assert problem["errors"][0]["location"] == "query"


async def test_sessions_rejects_an_overlong_cursor_with_422(
    client: Client, five_sessions: tuple[User, list[str]]
) -> None:
    user, _ = five_sessions

    expect_problem(await _sessions(client, user, cursor="a" * 513), 422, "VALIDATION_ERROR", path="cursor")


@pytest.mark.parametrize(
    "limit",
    [
        pytest.param("abc", id="not-a-number"),
        pytest.param("0", id="zero"),
        pytest.param("-1", id="negative"),
        pytest.param("101", id="over-100"),
    ],
)
async def test_sessions_rejects_a_bad_limit_with_422(
    client: Client, five_sessions: tuple[User, list[str]], limit: str
) -> None:
    user, _ = five_sessions

    expect_problem(await _sessions(client, user, limit=limit), 422, "VALIDATION_ERROR", path="limit")


async def test_query_parameter_errors_say_location_query(
    client: Client, five_sessions: tuple[User, list[str]]
) -> None:
    user, _ = five_sessions

    problem = expect_problem(await _sessions(client, user, limit="abc"), 422, "VALIDATION_ERROR")

    assert problem["errors"][0]["location"] == "query"


# ---- revoking one session -------------------------------------------------------------------


async def test_revoking_another_own_session_is_204(client: Client, db: asyncpg.Pool[Any]) -> None:
    user = await signed_in_user(client)
    other = await another_session(client, user)

    expect_no_content(await client.delete(f"/auth/sessions/{_session_id(other)}", headers=user.headers))

    reason = await db.fetchval(
        "SELECT revoked_reason FROM auth_sessions WHERE id = $1", UUID(_session_id(other))
    )
    assert reason == "user_revoked"
    assert await _all_session_ids(client, user) == [_session_id(user)]


async def test_a_revoked_session_loses_its_access_and_refresh_tokens(client: Client) -> None:
    user = await signed_in_user(client)
    other = await another_session(client, user)
    expect_data(await client.get("/users/me", headers=other.headers))  # now cached as active

    expect_no_content(await client.delete(f"/auth/sessions/{_session_id(other)}", headers=user.headers))

    expect_problem(await client.get("/users/me", headers=other.headers), 401, "INVALID_TOKEN")
    expect_problem(await refresh(client, other.refresh_token), 401, "INVALID_TOKEN")
    expect_data(await client.get("/users/me", headers=user.headers))


async def test_revoking_the_current_session_signs_the_caller_out(client: Client) -> None:
    user = await signed_in_user(client)

    expect_no_content(await client.delete(f"/auth/sessions/{_session_id(user)}", headers=user.headers))

    expect_problem(await client.get("/users/me", headers=user.headers), 401, "INVALID_TOKEN")


async def test_revoking_an_unknown_session_is_404(client: Client) -> None:
    user = await signed_in_user(client)

    response = await client.delete(
        "/auth/sessions/01900000-0000-7000-8000-000000000000", headers=user.headers
    )

    expect_problem(response, 404, "NOT_FOUND")


async def test_revoking_an_already_revoked_session_is_404(client: Client) -> None:
    user = await signed_in_user(client)
    other = await another_session(client, user)
    path = f"/auth/sessions/{_session_id(other)}"
    expect_no_content(await client.delete(path, headers=user.headers))

    expect_problem(await client.delete(path, headers=user.headers), 404, "NOT_FOUND")


async def test_revoking_a_session_with_a_malformed_id_is_404(client: Client) -> None:
    user = await signed_in_user(client)

    expect_problem(await client.delete("/auth/sessions/not-a-uuid", headers=user.headers), 404, "NOT_FOUND")


async def test_a_user_cannot_revoke_another_users_session(client: Client, db: asyncpg.Pool[Any]) -> None:
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)

    response = await client.delete(f"/auth/sessions/{_session_id(bob)}", headers=alice.headers)

    expect_problem(response, 404, "NOT_FOUND")
    revoked_at = await db.fetchval(
        "SELECT revoked_at FROM auth_sessions WHERE id = $1", UUID(_session_id(bob))
    )
    assert revoked_at is None
    expect_data(await client.get("/users/me", headers=bob.headers))
    expect_data(await refresh(client, bob.refresh_token))
