"""The whole account journey through the API: register, verify, login, refresh, profile."""

from __future__ import annotations

from typing import Any

import asyncpg

from tests.factories import Client, emailed_token, login, register


async def test_register_verify_login_refresh_profile(client: Client, db: asyncpg.Pool[Any]) -> None:
    account = await register(client)
    assert account["email_verified"] is False

    token = await emailed_token(db, account["email"], "verify_email")
    verified = await client.post("/auth/verify-email", json={"token": token})
    assert verified.status_code == 200
    assert verified.json()["data"]["email_verified"] is True

    tokens = await login(client, account["username"].upper(), account["password"])
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 900

    refreshed = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    new_tokens = refreshed.json()["data"]
    assert new_tokens["refresh_token"] != tokens["refresh_token"]

    headers = {"Authorization": f"Bearer {new_tokens['access_token']}"}
    patched = await client.patch(
        "/users/me", headers=headers, json={"display_name": "Ada", "locale": "pt-BR"}
    )
    assert patched.status_code == 200, patched.text
    me = (await client.get("/users/me", headers=headers)).json()["data"]
    assert me["display_name"] == "Ada"
    assert me["locale"] == "pt-BR"
    assert me["email_verified"] is True
