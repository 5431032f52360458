"""Small async factories for test data, created through the public API where possible."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
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
