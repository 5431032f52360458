"""Passwords, opaque tokens and JWT access tokens.

- Passwords are hashed with argon2id off the event loop, with a bounded number in flight
  (each hash holds ~64 MiB for tens of milliseconds).
- Opaque tokens (refresh, email verification, password reset) are random, shown once, and
  stored only as their SHA-256 digest; lookups are by digest, so no secret is compared in SQL.
- Access tokens are HS256 JWTs with the algorithm pinned and exp/iat/iss/aud required.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import jwt
import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.core.config import Settings
from app.core.monitoring import monitor_performance

__all__ = [
    "AccessClaims",
    "PasswordHashing",
    "TokenCodec",
    "constant_time_equals",
    "hash_token",
    "new_token",
]

JWT_ALGORITHM = "HS256"


def new_token(nbytes: int = 32) -> str:
    """A fresh URL-safe random secret (256 bits by default)."""
    return secrets.token_urlsafe(nbytes)


def hash_token(token: str) -> bytes:
    """The digest under which an opaque token is stored and looked up."""
    return hashlib.sha256(token.encode()).digest()


def constant_time_equals(a: str | bytes, b: str | bytes) -> bool:
    a_bytes = a.encode() if isinstance(a, str) else a
    b_bytes = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a_bytes, b_bytes)


_T = TypeVar("_T")


class PasswordHashing:
    """argon2id hashing on threads of its own, at most `password_hash_concurrency` at once.

    Its own threads, not the event loop's default executor: glibc keeps a freed block of up to
    32 MiB in the arena of the thread that used it (its mmap threshold rises after the first
    such free), so every thread that ever hashed may keep `argon2_memory_kib` resident. With a
    pool of `password_hash_concurrency` threads that memory is bounded by the same setting; on
    the default executor (up to 32 threads) it was not. The soak found the steps (tests/soak).
    """

    def __init__(self, settings: Settings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        self._threads = ThreadPoolExecutor(settings.password_hash_concurrency, thread_name_prefix="argon2")
        # Verified against when the account does not exist, so both paths cost the same.
        self._dummy_hash = self._hasher.hash(new_token())

    async def _run(self, function: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._threads, function, *args)

    @monitor_performance("password.hash")
    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    @monitor_performance("password.verify")  # waiting for a hashing thread included
    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Check `password`; with no hash (unknown account) burn the same time and return False."""
        return await self._run(self._verify_sync, password_hash, password)

    def _verify_sync(self, password_hash: str | None, password: str) -> bool:
        try:
            ok = self._hasher.verify(password_hash or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return ok and password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


class AccessClaims(msgspec.Struct, frozen=True):
    """What a verified access token says: who (`sub`) and which session (`sid`)."""

    sub: uuid.UUID
    sid: uuid.UUID
    exp: int
    iat: int


class TokenCodec:
    """Issues and verifies access JWTs; the accepted algorithm is fixed server-side."""

    def __init__(self, settings: Settings) -> None:
        self._key = settings.secret_key
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self.ttl_seconds = settings.access_token_ttl_seconds

    def issue(self, *, user_id: uuid.UUID, session_id: uuid.UUID) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {
            "sub": str(user_id),
            "sid": str(session_id),
            "iat": now,
            "exp": now + self.ttl_seconds,
            "iss": self._issuer,
            "aud": self._audience,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(payload, self._key, algorithm=JWT_ALGORITHM)  # pyright: ignore[reportUnknownMemberType]

    def verify(self, token: str) -> AccessClaims | None:
        """The claims of a valid, unexpired token of ours; None for anything else."""
        try:
            payload = jwt.decode(  # pyright: ignore[reportUnknownMemberType]
                token,
                self._key,
                algorithms=[JWT_ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "sid", "iss", "aud"]},
            )
            return msgspec.convert(payload, AccessClaims, strict=False)
        except (jwt.PyJWTError, msgspec.ValidationError):
            return None
