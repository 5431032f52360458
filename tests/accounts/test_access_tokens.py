"""Access tokens on every protected route: a missing token is 401 AUTHENTICATION_REQUIRED with
WWW-Authenticate; an expired, forged, re-signed or `alg: none` JWT is 401 INVALID_TOKEN."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from app.core.config import Settings
from app.core.security import TokenCodec
from tests.factories import Client, User, bearer, expect_data, expect_problem, signed_in_user

SOME_ID = "01900000-0000-7000-8000-000000000000"
PROTECTED_ROUTES = [
    ("GET", "/users/me", None),
    ("PATCH", "/users/me", {"bio": "hi"}),
    ("DELETE", "/users/me", None),
    ("GET", f"/users/{SOME_ID}", None),
    ("GET", "/auth/sessions", None),
    ("DELETE", f"/auth/sessions/{SOME_ID}", None),
    ("POST", "/auth/logout", None),
    ("POST", "/auth/password/change", {"current_password": "x" * 12, "new_password": "y" * 12}),
    ("POST", "/auth/verify-email/resend", None),
]


@pytest.fixture(scope="module")
async def user(client: Client) -> User:
    return await signed_in_user(client)


@pytest.mark.parametrize(
    ("method", "path", "body"), PROTECTED_ROUTES, ids=[f"{m} {p}" for m, p, _ in PROTECTED_ROUTES]
)
async def test_protected_route_without_a_token_is_401_authentication_required(
    client: Client, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = await client.request(method, path, json=body)

    expect_problem(response, 401, "AUTHENTICATION_REQUIRED")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("method", "path", "body"), PROTECTED_ROUTES, ids=[f"{m} {p}" for m, p, _ in PROTECTED_ROUTES]
)
async def test_protected_route_with_a_garbage_token_is_401_invalid_token(
    client: Client, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = await client.request(method, path, json=body, headers=bearer("not.a.jwt"))

    expect_problem(response, 401, "INVALID_TOKEN")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "authorization", ["Basic dXNlcjpwYXNz", "Token abc", "Bearer", "Bearer    ", "bearer"]
)
async def test_a_non_bearer_authorization_counts_as_missing(client: Client, authorization: str) -> None:
    response = await client.get("/users/me", headers={"Authorization": authorization})

    expect_problem(response, 401, "AUTHENTICATION_REQUIRED")


async def test_the_bearer_scheme_is_case_insensitive(client: Client, user: User) -> None:
    response = await client.get("/users/me", headers={"Authorization": f"bEaReR {user.access_token}"})

    assert expect_data(response)["id"] == user.id


# ---- forged tokens --------------------------------------------------------------------------


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims_of(user: User) -> dict[str, Any]:
    return jwt.decode(user.access_token, options={"verify_signature": False})


def _sign(claims: dict[str, Any], settings: Settings, *, key: str | None = None, alg: str = "HS256") -> str:
    return jwt.encode(claims, key or settings.secret_key, algorithm=alg)


def _with(**changes: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def change(claims: dict[str, Any]) -> dict[str, Any]:
        return {**claims, **changes}

    return change


def _without(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def drop(claims: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in claims.items() if k != name}

    return drop


async def test_a_token_re_signed_with_the_server_key_is_accepted(
    client: Client, user: User, settings: Settings
) -> None:
    """Control for the tests below: the forging helper itself yields valid tokens."""
    token = _sign(_claims_of(user), settings)

    assert expect_data(await client.get("/users/me", headers=bearer(token)))["id"] == user.id


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(_with(exp=int(time.time()) - 60, iat=int(time.time()) - 1000), id="expired"),
        pytest.param(_with(iat=int(time.time()) + 3600), id="issued-in-the-future"),
        pytest.param(_with(aud="some-other-api"), id="wrong-audience"),
        pytest.param(_with(iss="someone-else"), id="wrong-issuer"),
        pytest.param(_with(sid=str(uuid.uuid4())), id="unknown-session"),
        pytest.param(_with(sub="not-a-uuid"), id="sub-not-a-uuid"),
        pytest.param(_without("exp"), id="no-exp"),
        pytest.param(_without("iat"), id="no-iat"),
        pytest.param(_without("sid"), id="no-sid"),
        pytest.param(_without("aud"), id="no-aud"),
    ],
)
async def test_a_token_with_bad_claims_is_401_invalid_token(
    client: Client, user: User, settings: Settings, tamper: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    token = _sign(tamper(_claims_of(user)), settings)

    response = await client.get("/users/me", headers=bearer(token))

    expect_problem(response, 401, "INVALID_TOKEN")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_token_signed_with_another_key_is_401_invalid_token(
    client: Client, user: User, settings: Settings
) -> None:
    token = _sign(_claims_of(user), settings, key="another-secret-key-0123456789abcdef")

    expect_problem(await client.get("/users/me", headers=bearer(token)), 401, "INVALID_TOKEN")


async def test_a_token_signed_with_another_hmac_algorithm_is_401_invalid_token(
    client: Client, user: User, settings: Settings
) -> None:
    # Signed by hand: PyJWT warns (an error here) about the key length for HS512.
    signing_input = f"{_b64({'alg': 'HS512', 'typ': 'JWT'})}.{_b64(_claims_of(user))}"
    digest = hmac.new(settings.secret_key.encode(), signing_input.encode(), hashlib.sha512).digest()
    token = f"{signing_input}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"

    expect_problem(await client.get("/users/me", headers=bearer(token)), 401, "INVALID_TOKEN")


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
async def test_an_unsigned_alg_none_token_is_401_invalid_token(client: Client, user: User, alg: str) -> None:
    token = f"{_b64({'alg': alg, 'typ': 'JWT'})}.{_b64(_claims_of(user))}."

    expect_problem(await client.get("/users/me", headers=bearer(token)), 401, "INVALID_TOKEN")


async def test_a_token_with_a_swapped_payload_is_401_invalid_token(client: Client, user: User) -> None:
    other = await signed_in_user(client)
    header, _, signature = user.access_token.split(".")
    payload = other.access_token.split(".")[1]

    response = await client.get("/users/me", headers=bearer(f"{header}.{payload}.{signature}"))

    expect_problem(response, 401, "INVALID_TOKEN")


async def test_a_token_pairing_one_users_session_with_another_user_is_refused(
    client: Client, settings: Settings
) -> None:
    """Signed with the right key, but `sid` is A's session and `sub` is B: the session must be
    the token's user's (checked in SQL and in the per-worker session cache alike)."""
    alice, bob = await signed_in_user(client), await signed_in_user(client)
    alice_session = jwt.decode(alice.access_token, options={"verify_signature": False})["sid"]
    expect_data(await client.get("/users/me", headers=alice.headers))  # A's session is cached active
    forged = TokenCodec(settings).issue(user_id=uuid.UUID(bob.id), session_id=uuid.UUID(alice_session))

    response = await client.get("/users/me", headers=bearer(forged))

    expect_problem(response, 401, "INVALID_TOKEN")
