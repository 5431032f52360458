"""POST /auth/login: the token pair, the session it starts (refresh token stored hashed), the
same answer for every failure, validation, and rehashing when argon2 parameters change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import jwt
import pytest
from litestar.testing import AsyncTestClient

from app.core.config import Settings
from app.main import create_app
from tests.factories import (
    DEFAULT_PASSWORD,
    Client,
    digest_forms,
    expect_data,
    expect_problem,
    register,
    token_digest,
)

TOKEN_PAIR_FIELDS = {"access_token", "refresh_token", "token_type", "expires_in"}


async def _login(
    client: Client, login: str, password: str = DEFAULT_PASSWORD, **kwargs: Any
) -> httpx.Response:
    return await client.post("/auth/login", json={"login": login, "password": password}, **kwargs)


@pytest.mark.parametrize(
    "login_of",
    [
        pytest.param(lambda a: a["email"], id="email"),
        pytest.param(lambda a: a["email"].upper(), id="email-upper-case"),
        pytest.param(lambda a: a["username"], id="username"),
        pytest.param(lambda a: a["username"].upper(), id="username-upper-case"),
    ],
)
async def test_login_returns_a_token_pair(client: Client, login_of: Any) -> None:
    account = await register(client)

    response = await _login(client, login_of(account))

    data = expect_data(response)
    assert set(data) == TOKEN_PAIR_FIELDS
    assert data["token_type"] == "bearer"
    assert data["expires_in"] == 900
    for form in digest_forms(data["refresh_token"]):
        assert form not in response.text


async def test_login_access_token_is_a_pinned_hs256_jwt_for_the_user_and_session(
    client: Client, db: asyncpg.Pool[Any], settings: Settings
) -> None:
    account = await register(client)
    tokens = expect_data(await _login(client, account["email"]))

    header = jwt.get_unverified_header(tokens["access_token"])
    claims = jwt.decode(
        tokens["access_token"],
        settings.secret_key,
        algorithms=["HS256"],
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
    )

    assert header["alg"] == "HS256"
    assert claims["sub"] == account["id"]
    assert claims["exp"] - claims["iat"] == 900
    session_user = await db.fetchval("SELECT user_id FROM auth_sessions WHERE id = $1", UUID(claims["sid"]))
    assert str(session_user) == account["id"]


async def test_login_starts_a_session_with_the_user_agent(client: Client, db: asyncpg.Pool[Any]) -> None:
    account = await register(client)

    expect_data(await _login(client, account["email"], headers={"User-Agent": "pytest-agent/1.0"}))

    sessions = await db.fetch(
        "SELECT user_agent, expires_at, revoked_at FROM auth_sessions WHERE user_id = $1",
        UUID(account["id"]),
    )
    assert len(sessions) == 1
    assert sessions[0]["user_agent"] == "pytest-agent/1.0"
    assert sessions[0]["revoked_at"] is None
    expected_expiry = datetime.now(UTC) + timedelta(days=30)
    assert abs(sessions[0]["expires_at"] - expected_expiry) < timedelta(minutes=1)


async def test_login_stores_only_the_digest_of_the_refresh_token(
    client: Client, db: asyncpg.Pool[Any]
) -> None:
    account = await register(client)
    tokens = expect_data(await _login(client, account["email"]))

    rows = await db.fetch(
        "SELECT t.token_hash, t.used_at, t::text AS as_text FROM refresh_tokens AS t"
        " JOIN auth_sessions AS s ON s.id = t.session_id WHERE s.user_id = $1",
        UUID(account["id"]),
    )

    assert len(rows) == 1
    assert rows[0]["token_hash"] == token_digest(tokens["refresh_token"])
    assert rows[0]["used_at"] is None
    assert tokens["refresh_token"] not in rows[0]["as_text"]


async def test_login_with_a_wrong_password_is_401_invalid_credentials(
    client: Client, db: asyncpg.Pool[Any]
) -> None:
    account = await register(client)

    response = await _login(client, account["email"], "not the right password")

    expect_problem(response, 401, "INVALID_CREDENTIALS")
    assert response.headers["www-authenticate"] == "Bearer"
    assert "not the right password" not in response.text
    count = await db.fetchval("SELECT count(*) FROM auth_sessions WHERE user_id = $1", UUID(account["id"]))
    assert count == 0


async def test_login_answers_unknown_accounts_exactly_like_wrong_passwords(client: Client) -> None:
    account = await register(client)

    wrong_password = await _login(client, account["email"], "not the right password")
    unknown = await _login(client, "nobody-at-all@example.com", "not the right password")

    assert wrong_password.status_code == unknown.status_code == 401
    body_a, body_b = wrong_password.json(), unknown.json()
    del body_a["request_id"], body_b["request_id"]
    assert body_a == body_b


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("login", ""),
        ("login", "x" * 255),
        ("login", "ada\x00"),
        ("login", None),
        ("password", ""),
        ("password", "x" * 129),
        ("password", "pass\x00word-long"),
        ("password", 1234567890),
    ],
    ids=lambda v: repr(v)[:20],
)
async def test_login_rejects_an_invalid_value_with_its_path(
    client: Client, field: str, value: object
) -> None:
    body: dict[str, object] = {"login": "ada@example.com", "password": "whatever-it-is", field: value}

    response = await client.post("/auth/login", json=body)

    expect_problem(response, 422, "VALIDATION_ERROR", path=f"$.{field}")


async def test_login_rehashes_a_password_hashed_with_old_parameters(
    client: Client, db: asyncpg.Pool[Any], make_settings: Any
) -> None:
    account = await register(client)  # hashed with time cost 1 by the test settings
    stronger = create_app(make_settings(argon2_time_cost="2"))

    async with AsyncTestClient(stronger) as stronger_client:
        expect_data(await _login(stronger_client, account["email"]))

    stored = await db.fetchval("SELECT password_hash FROM users WHERE id = $1", UUID(account["id"]))
    assert stored.startswith("$argon2id$")
    assert ",t=2," in stored
    expect_data(await _login(client, account["email"]))
