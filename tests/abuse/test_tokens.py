"""Forged, tampered, expired and misplaced credentials: 401 with the stable code (INVALID_TOKEN,
or AUTHENTICATION_REQUIRED when there is no credential at all), before any body is read."""

from __future__ import annotations

import base64
import json
import time
import warnings
from typing import Any
from uuid import UUID, uuid4

import jwt
import pytest
from jwt.warnings import InsecureKeyLengthWarning

from app.core.config import Settings
from tests.abuse.conftest import Pool, Tenant, digest
from tests.factories import Client, expect_data, expect_problem
from tests.orgs.org_helpers_keys import refused_within

# A read and a write of each kind of route; the write's body is valid, so only the credential fails.
USER_ROUTES = [("GET", "/users/me", None), ("PATCH", "/users/me", {"bio": "forged"})]
ORG_ROUTES = [("GET", "/orgs/{org}/items", None), ("POST", "/orgs/{org}/items", {"name": "forged"})]


WRONG_KEY = "not-the-secret-key-0123456789abcdef0123"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: str = "") -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}.{signature}"


async def claims(db: Pool, settings: Settings, tenant: Tenant, **changes: Any) -> dict[str, Any]:
    """Valid claims for the tenant owner's live session, with `changes` (None removes a claim)."""
    session_id = await db.fetchval(
        "SELECT id FROM auth_sessions WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at LIMIT 1",
        UUID(tenant.owner.id),
    )
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": tenant.owner.id,
        "sid": str(session_id),
        "iat": now,
        "exp": now + 300,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "jti": uuid4().hex,
    }
    payload.update(changes)
    return {key: value for key, value in payload.items() if value is not None}


def sign(payload: dict[str, Any], key: str, algorithm: str = "HS256", **header: Any) -> str:
    with warnings.catch_warnings():  # the test key is short for HS512: that is the point
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(payload, key, algorithm=algorithm, headers=header or None)  # pyright: ignore[reportUnknownMemberType]


def forged_tokens(settings: Settings, valid: dict[str, Any]) -> dict[str, str]:
    key = settings.secret_key
    now = int(time.time())
    return {
        "alg-none": unsigned({"alg": "none", "typ": "JWT"}, valid),
        "alg-None": unsigned({"alg": "None", "typ": "JWT"}, valid),
        "alg-none-with-signature": unsigned({"alg": "none"}, valid, b64(b"x" * 32)),
        "wrong-key": sign(valid, WRONG_KEY),
        "hs512-right-key": sign(valid, key, "HS512"),
        "kid-traversal-wrong-key": sign(valid, WRONG_KEY, kid="../../../../dev/null"),
        "signature-stripped": sign(valid, key).rsplit(".", 1)[0] + ".",
        "payload-swapped": _swap_payload(sign(valid, key), {**valid, "sub": str(uuid4())}),
        "wrong-audience": sign({**valid, "aud": "someone-else"}, key),
        "wrong-issuer": sign({**valid, "iss": "https://evil.example"}, key),
        "audience-list-without-ours": sign({**valid, "aud": ["x", "y"]}, key),
        "no-audience": sign({k: v for k, v in valid.items() if k != "aud"}, key),
        "no-expiry": sign({k: v for k, v in valid.items() if k != "exp"}, key),
        "no-session": sign({k: v for k, v in valid.items() if k != "sid"}, key),
        "expired": sign({**valid, "iat": now - 600, "exp": now - 300}, key),
        "future-iat": sign({**valid, "iat": now + 3600, "exp": now + 7200}, key),
        "future-nbf": sign({**valid, "nbf": now + 3600}, key),
        "sub-not-uuid": sign({**valid, "sub": "' OR '1'='1"}, key),
        "unknown-session": sign({**valid, "sid": str(uuid4())}, key),
        "malformed-base64": "eyJ!!!.eyJ@@@.sig",
        "two-parts": "a.b",
        "dots-only": "...",
        "not-json": f"{b64(b'not json')}.{b64(b'{}')}.x",
        "header-is-array": f"{b64(b'[]')}.{b64(json.dumps(valid).encode())}.x",
        "very-long": "a" * 20_000,
    }


def _swap_payload(token: str, payload: dict[str, Any]) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{b64(json.dumps(payload).encode())}.{signature}"


FORGED = [
    "alg-none",
    "alg-None",
    "alg-none-with-signature",
    "wrong-key",
    "hs512-right-key",
    "kid-traversal-wrong-key",
    "signature-stripped",
    "payload-swapped",
    "wrong-audience",
    "wrong-issuer",
    "audience-list-without-ours",
    "no-audience",
    "no-expiry",
    "no-session",
    "expired",
    "future-iat",
    "future-nbf",
    "sub-not-uuid",
    "unknown-session",
    "malformed-base64",
    "two-parts",
    "dots-only",
    "not-json",
    "header-is-array",
    "very-long",
]


@pytest.mark.parametrize("forged", FORGED)
async def test_forged_access_token_is_401_invalid_token(
    client: Client, db: Pool, settings: Settings, tenant: Tenant, forged: str
) -> None:
    tokens = forged_tokens(settings, await claims(db, settings, tenant))
    assert set(tokens) == set(FORGED)
    headers = {"Authorization": f"Bearer {tokens[forged]}"}
    before = await digest(db, tenant)

    for method, template, body in USER_ROUTES + ORG_ROUTES:
        response = await client.request(method, tenant.url(template), json=body, headers=headers)

        expect_problem(response, 401, "INVALID_TOKEN")
        assert response.headers["www-authenticate"] == "Bearer"
    assert await digest(db, tenant) == before


async def test_the_valid_claims_are_accepted(
    client: Client, db: Pool, settings: Settings, tenant: Tenant
) -> None:
    """The forgeries above differ from an accepted token only in what they forge."""
    token = sign(await claims(db, settings, tenant), settings.secret_key)

    data = expect_data(await client.get("/users/me", headers={"Authorization": f"Bearer {token}"}))

    assert data["id"] == tenant.owner.id


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "bearer", "Token abc", "Bearer\tabc"],
    ids=["no-token", "blank-token", "basic", "scheme-only", "other-scheme", "tab"],
)
async def test_no_usable_credential_is_401_authentication_required(
    client: Client, tenant: Tenant, header: str
) -> None:
    for method, template, body in USER_ROUTES + ORG_ROUTES:
        response = await client.request(
            method, tenant.url(template), json=body, headers={"Authorization": header}
        )

        expect_problem(response, 401, "AUTHENTICATION_REQUIRED")


# ---- API keys ---------------------------------------------------------------------------------------


async def test_api_key_as_bearer_on_a_user_route_is_401_invalid_token(
    client: Client, db: Pool, tenant: Tenant
) -> None:
    before = await digest(db, tenant)

    for method, template, body in USER_ROUTES:
        response = await client.request(
            method, template, json=body, headers={"Authorization": f"Bearer {tenant.key}"}
        )

        problem = expect_problem(response, 401, "INVALID_TOKEN")
        assert tenant.key not in response.text
        assert "organization" in problem["detail"]
    assert await digest(db, tenant) == before


async def test_api_key_header_on_a_user_route_is_not_a_credential(client: Client, tenant: Tenant) -> None:
    expect_problem(await client.get("/users/me", headers=tenant.key_headers), 401, "AUTHENTICATION_REQUIRED")


def tampered_keys(key: str) -> dict[str, str]:
    prefix, _, secret = key[len("sk_") :].partition("_")
    return {
        "truncated": key[:-1],
        "half": key[: len(key) // 2],
        "prefix-only": f"sk_{prefix}_",
        "wrong-secret": f"sk_{prefix}_{'A' * len(secret)}",
        "secret-flipped-case": f"sk_{prefix}_{secret.swapcase()}",
        "extra-char": key + "x",
        "unknown-prefix": f"sk_{'a' * len(prefix)}_{secret}",
        "sql-in-prefix": f"sk_' OR '1'='1_{secret}",
        "mark-only": "sk_",
        "long": key + "x" * 10_000,
    }


KEY_TAMPERS = list(tampered_keys("sk_abcdefghijkl_secret"))


@pytest.mark.parametrize("via", ["x-api-key", "bearer"])
@pytest.mark.parametrize("tamper", KEY_TAMPERS)
async def test_tampered_api_key_is_401_invalid_token(
    client: Client, db: Pool, tenant: Tenant, tamper: str, via: str
) -> None:
    key = tampered_keys(tenant.key)[tamper]
    headers = {"X-API-Key": key} if via == "x-api-key" else {"Authorization": f"Bearer {key}"}
    before = await digest(db, tenant)

    for method, template, body in ORG_ROUTES:
        response = await client.request(method, tenant.url(template), json=body, headers=headers)

        expect_problem(response, 401, "INVALID_TOKEN")
    assert await digest(db, tenant) == before


async def test_revoked_api_key_is_401_invalid_token(client: Client, db: Pool, tenant: Tenant) -> None:
    base = tenant.url("/orgs/{org}")
    created = expect_data(
        await client.post(
            f"{base}/api-keys", json={"name": "to-revoke", "role": "admin"}, headers=tenant.headers
        ),
        201,
    )
    expect_data(await client.get(f"{base}/items", headers={"X-API-Key": created["key"]}))  # cached now

    assert (
        await client.delete(f"{base}/api-keys/{created['id']}", headers=tenant.headers)
    ).status_code == 204

    await refused_within(client, f"{base}/items", created["key"], seconds=5)
    before = await digest(db, tenant)
    for method, template, body in ORG_ROUTES:
        response = await client.request(
            method, tenant.url(template), json=body, headers={"X-API-Key": created["key"]}
        )
        expect_problem(response, 401, "INVALID_TOKEN")
    assert await digest(db, tenant) == before


async def test_expired_api_key_is_401_invalid_token(client: Client, db: Pool, tenant: Tenant) -> None:
    base = tenant.url("/orgs/{org}")
    created = expect_data(
        await client.post(
            f"{base}/api-keys", json={"name": "to-expire", "role": "admin"}, headers=tenant.headers
        ),
        201,
    )
    await db.execute(
        "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1", UUID(created["id"])
    )

    for method, template, body in ORG_ROUTES:
        response = await client.request(
            method, tenant.url(template), json=body, headers={"X-API-Key": created["key"]}
        )

        expect_problem(response, 401, "INVALID_TOKEN")


async def test_api_key_of_another_org_is_404(client: Client, tenant: Tenant, other_tenant: Tenant) -> None:
    for method, template, body in ORG_ROUTES:
        response = await client.request(
            method, other_tenant.url(template), json=body, headers=tenant.key_headers
        )

        expect_problem(response, 404, "NOT_FOUND")
