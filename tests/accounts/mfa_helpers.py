"""Helpers of the two-factor tests: set it up through the API, compute codes like an app would."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import httpx
from pyotp.totp import TOTP

from tests.factories import Client, User, expect_data

TOTP_PERIOD = 30


@dataclass
class MfaUser:
    user: User
    secret: str
    backup_codes: list[str]


def code_for(secret: str, *, steps_ahead: int = 0) -> str:
    """The authenticator's code now, or for a later 30-second step (the service accepts +-1)."""
    return TOTP(secret).at(time.time() + steps_ahead * TOTP_PERIOD)


def wrong_code(secret: str) -> str:
    """A 6-digit code that matches none of the steps the service accepts right now."""
    valid = {code_for(secret, steps_ahead=offset) for offset in (-2, -1, 0, 1, 2)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in valid)


async def forget_used_step(db: asyncpg.Pool[Any], user_id: str) -> None:
    """Forget which TOTP step was last accepted, so the current code works again (the tests run
    faster than the 30-second steps the replay protection is about)."""
    await db.execute("UPDATE user_mfa SET last_used_step = NULL WHERE user_id = $1", UUID(user_id))


async def enable_mfa(client: Client, user: User) -> MfaUser:
    """Enable and confirm two-factor for `user` through the API."""
    setup = expect_data(
        await client.post("/auth/mfa/enable", json={"password": user.password}, headers=user.headers)
    )
    confirmed = await client.post(
        "/auth/mfa/confirm", json={"code": code_for(setup["secret"])}, headers=user.headers
    )
    return MfaUser(user=user, secret=setup["secret"], backup_codes=expect_data(confirmed)["backup_codes"])


async def password_login(client: Client, user: User, **kwargs: Any) -> httpx.Response:
    return await client.post("/auth/login", json={"login": user.email, "password": user.password}, **kwargs)


async def start_challenge(client: Client, user: User, **kwargs: Any) -> str:
    """Sign in with the password; the challenge token the answer carries."""
    data = expect_data(await password_login(client, user, **kwargs))
    assert data["mfa_required"] is True, data
    return data["challenge_token"]


async def answer(client: Client, challenge_token: str, code: str, **kwargs: Any) -> httpx.Response:
    return await client.post(
        "/auth/mfa/challenge", json={"challenge_token": challenge_token, "code": code}, **kwargs
    )
