"""Small async factories for test data, created through the public API where possible."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import asyncpg
import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]
DEFAULT_PASSWORD = "correct horse battery staple"


def unique(prefix: str = "u") -> str:
    return f"{prefix}{secrets.token_hex(5)}"


def new_account(**overrides: Any) -> dict[str, Any]:
    """A valid registration body with a unique email and username."""
    name = unique()
    body: dict[str, Any] = {"email": f"{name}@example.com", "username": name, "password": DEFAULT_PASSWORD}
    body.update(overrides)
    return body


@dataclass
class User:
    id: str
    email: str
    username: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def register(client: Client, **overrides: Any) -> dict[str, Any]:
    body = new_account(**overrides)
    response = await client.post("/auth/register", json=body)
    assert response.status_code == 201, response.text
    return {**body, **response.json()["data"]}


async def login(client: Client, login_name: str, password: str = DEFAULT_PASSWORD) -> dict[str, Any]:
    response = await client.post("/auth/login", json={"login": login_name, "password": password})
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def signed_in_user(client: Client, **overrides: Any) -> User:
    account = await register(client, **overrides)
    tokens = await login(client, account["email"], account["password"])
    return User(
        id=account["id"],
        email=account["email"],
        username=account["username"],
        password=account["password"],
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
    )


async def emailed_token(db: asyncpg.Pool[Any], email: str, template: str) -> str:
    """The token in the newest queued email of `template` to `email` (as a user would click)."""
    link = await db.fetchval(
        "SELECT payload->>'link' FROM email_outbox WHERE to_address = $1 AND template = $2"
        " ORDER BY created_at DESC, id DESC LIMIT 1",
        email,
        template,
    )
    assert link, f"no {template} email queued for {email}"
    return parse_qs(urlsplit(link).query)["token"][0]


# ---- helpers for the API tests (appended; the functions above are unchanged) ----------------

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_MEMBERS = frozenset({"type", "title", "status", "detail", "code", "request_id"})
OWNER_FIELDS = frozenset(
    {
        "id",
        "email",
        "username",
        "display_name",
        "bio",
        "avatar_url",
        "locale",
        "email_verified",
        "created_at",
        "updated_at",
    }
)
PUBLIC_FIELDS = frozenset({"id", "username", "display_name", "bio", "avatar_url", "created_at"})
# Never in any response: a password hash, the names of the columns holding secrets, a password.
LEAK_MARKERS = ("$argon2", "password_hash", "token_hash", DEFAULT_PASSWORD)


def token_digest(token: str) -> bytes:
    """The SHA-256 digest under which the service stores an opaque token."""
    return hashlib.sha256(token.encode()).digest()


def digest_forms(token: str) -> tuple[str, ...]:
    """The text forms in which a stored token digest could leak (hex, base64, base64url)."""
    digest = token_digest(token)
    return (
        digest.hex(),
        base64.b64encode(digest).decode(),
        base64.urlsafe_b64encode(digest).decode().rstrip("="),
    )


def assert_no_secrets(response: httpx.Response, *secrets: str) -> None:
    """The response (body and headers) holds no password, password hash or token digest."""
    headers = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
    text = f"{headers}\n{response.text}"
    for needle in (*LEAK_MARKERS, *secrets):
        assert needle not in text, f"response leaks {needle!r}: {text[:500]}"


def expect_problem(
    response: httpx.Response, status: int, code: str, *, path: str | None = None
) -> dict[str, Any]:
    """Assert an RFC 9457 problem with `status` and `code` (and a field error at `path`)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    body: dict[str, Any] = response.json()
    assert body.keys() >= PROBLEM_MEMBERS, body
    assert body["status"] == status
    assert body["code"] == code, body
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    if path is not None:
        assert path in [error["path"] for error in body["errors"]], body
    assert_no_secrets(response)
    return body


def expect_data(response: httpx.Response, status: int = 200) -> Any:
    """Assert a success envelope with `status` and return its `data`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert_no_secrets(response)
    return response.json()["data"]


def expect_no_content(response: httpx.Response) -> None:
    assert response.status_code == 204, response.text
    assert response.content == b""


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


async def another_session(client: Client, user: User) -> User:
    """The same account signed in a second time (a second login session)."""
    tokens = await login(client, user.email, user.password)
    return replace(user, access_token=tokens["access_token"], refresh_token=tokens["refresh_token"])


async def refresh(client: Client, refresh_token: str) -> httpx.Response:
    return await client.post("/auth/refresh", json={"refresh_token": refresh_token})


async def set_active(db: asyncpg.Pool[Any], user_id: str, active: bool) -> None:
    """Enable or disable an account directly in the database (there is no admin API yet)."""
    await db.execute("UPDATE users SET is_active = $2 WHERE id = $1", UUID(user_id), active)


async def expire_email_token(db: asyncpg.Pool[Any], token: str) -> None:
    await db.execute(
        "UPDATE email_tokens SET expires_at = now() - interval '1 minute' WHERE token_hash = $1",
        token_digest(token),
    )
