"""API keys for machine clients: the key format, and authenticating keys without a database
round trip per request.

A key reads ``sk_<prefix>_<secret>``: the 12-character prefix is public (shown in lists, used
to find the key), the secret is 256 random bits stored only as its SHA-256 digest (a fast hash
suits a high-entropy secret; argon2 is for passwords people choose).

Each worker keeps what it learned about a prefix for `API_KEY_CACHE_SECONDS` (default 5), found
or not found. Revoking a key (or deleting its org) drops it from the revoking worker's cache
at once and publishes the prefix on Redis; every worker's listener drops it on receipt. If
Redis is down or a message is lost, the cache lifetime still bounds how long a revoked key
keeps working. Last-use times are collected in memory and written in one batched statement
every `API_KEY_LAST_USED_FLUSH_SECONDS`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
from redis.asyncio import Redis

from app.accounts.auth import API_KEY_MARK as KEY_MARK
from app.core.db import Database
from app.core.exceptions import AuthenticationError
from app.core.logging import get_logger
from app.core.responses import ErrorCode
from app.orgs import queries
from app.orgs.structs import ApiKeyRecord

__all__ = [
    "INVALIDATION_CHANNEL",
    "ApiKeyAuthenticator",
    "ApiKeyIdentity",
    "NewApiKey",
    "generate_api_key",
    "looks_like_api_key",
    "parse_api_key",
]

logger = get_logger(__name__)

PREFIX_LENGTH = 12
INVALIDATION_CHANNEL = "app:api-keys:invalidate"
_MAX_CACHE_ENTRIES = 50_000
_MAX_KEY_LENGTH = 200
_STOP_TIMEOUT_SECONDS = 3.0


class NewApiKey(msgspec.Struct, frozen=True):
    key: str
    prefix: str
    secret_hash: bytes


class ApiKeyIdentity(msgspec.Struct, frozen=True):
    org_id: UUID
    key_id: UUID
    role: str


class _Invalidation(msgspec.Struct, frozen=True, omit_defaults=True):
    prefixes: list[str] = msgspec.field(default_factory=lambda: [])


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def generate_api_key() -> NewApiKey:
    prefix = base64.b32encode(secrets.token_bytes(10)).decode().lower()[:PREFIX_LENGTH]
    secret = secrets.token_urlsafe(32)
    return NewApiKey(key=f"{KEY_MARK}{prefix}_{secret}", prefix=prefix, secret_hash=_digest(secret))


def looks_like_api_key(token: str) -> bool:
    return token.startswith(KEY_MARK)


def parse_api_key(key: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed key, else None."""
    if not key.startswith(KEY_MARK) or len(key) > _MAX_KEY_LENGTH:
        return None
    prefix, sep, secret = key[len(KEY_MARK) :].partition("_")
    if not sep or len(prefix) != PREFIX_LENGTH or not secret:
        return None
    if not all(c in "abcdefghijklmnopqrstuvwxyz234567" for c in prefix):
        return None
    return prefix, secret


def _invalid(message: str = "The API key is invalid, revoked or expired.") -> AuthenticationError:
    return AuthenticationError(message, error_code=ErrorCode.INVALID_TOKEN)


class ApiKeyAuthenticator:
    """One per worker process: the key cache, its Redis invalidation listener, last-use batching."""

    def __init__(
        self,
        *,
        db: Database,
        redis: Redis | None,
        redis_url: str | None,
        cache_seconds: float,
        last_used_flush_seconds: float,
    ) -> None:
        self._db = db
        self._redis = redis
        self._redis_url = redis_url
        self._ttl = cache_seconds
        self._flush_every = last_used_flush_seconds
        self._cache: dict[str, tuple[float, ApiKeyRecord | None]] = {}
        self._last_used: dict[tuple[UUID, UUID], datetime] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self.listening = asyncio.Event()
        # Observability (and tests): how often a request needed the database.
        self.cache_hits = 0
        self.cache_misses = 0

    # ---- authentication -------------------------------------------------------------------

    async def authenticate(self, key: str) -> ApiKeyIdentity:
        parsed = parse_api_key(key)
        if parsed is None:
            raise _invalid("The API key is malformed.")
        prefix, secret = parsed
        record = await self._record(prefix)
        if record is None or not hmac.compare_digest(record.secret_hash, _digest(secret)):
            raise _invalid()
        now = datetime.now(UTC)
        if record.expires_at is not None and record.expires_at <= now:
            raise _invalid("The API key has expired.")
        self._last_used[(record.org_id, record.id)] = now
        return ApiKeyIdentity(org_id=record.org_id, key_id=record.id, role=record.role)

    async def _record(self, prefix: str) -> ApiKeyRecord | None:
        entry = self._cache.get(prefix)
        now = time.monotonic()
        if entry is not None and entry[0] > now:
            self.cache_hits += 1
            return entry[1]
        self.cache_misses += 1
        async with self._db.connection() as conn:
            record = await queries.get_api_key_by_prefix(conn, prefix=prefix)
        if self._ttl > 0:
            if len(self._cache) >= _MAX_CACHE_ENTRIES:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
                if len(self._cache) >= _MAX_CACHE_ENTRIES:
                    self._cache.clear()
            self._cache[prefix] = (now + self._ttl, record)
        return record

    # ---- revocation -------------------------------------------------------------------------

    def forget(self, prefixes: Iterable[str]) -> None:
        for prefix in prefixes:
            self._cache.pop(prefix, None)

    async def revoked(self, prefixes: list[str]) -> None:
        """Call after the revoking transaction commits: drop the keys here, tell other workers."""
        if not prefixes:
            return
        self.forget(prefixes)
        if self._redis is None:
            return
        try:
            await self._redis.publish(INVALIDATION_CHANNEL, msgspec.json.encode(_Invalidation(prefixes)))  # pyright: ignore[reportUnknownMemberType]
        except Exception as exc:  # noqa: BLE001 - the cache lifetime still bounds the delay
            logger.warning(
                "api key revocation not broadcast; other workers drop it when their cache expires",
                extra={"error": type(exc).__name__},
            )

    async def _listen(self) -> None:
        """Drop revoked keys announced by other workers; reconnect with backoff when Redis fails."""
        assert self._redis_url is not None
        delay = 0.5
        while not self._stopping:
            # A client of its own without a read timeout: a subscription idles between messages.
            client: Any = Redis.from_url(self._redis_url, socket_connect_timeout=2, health_check_interval=15)  # pyright: ignore[reportUnknownMemberType]
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(INVALIDATION_CHANNEL)
                    # Anything published while not subscribed was missed: start from a clean cache.
                    self._cache.clear()
                    self.listening.set()
                    delay = 0.5
                    while not self._stopping:
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                        if message is not None and message.get("type") == "message":
                            self._on_message(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep listening; the TTL bounds staleness meanwhile
                self.listening.clear()
                logger.warning(
                    "api key invalidation listener lost Redis", extra={"error": type(exc).__name__}
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            finally:
                await client.aclose()

    def _on_message(self, data: bytes) -> None:
        try:
            self.forget(msgspec.json.decode(data, type=_Invalidation).prefixes)
        except msgspec.DecodeError:
            logger.warning("ignoring a malformed api key invalidation message")

    # ---- last use ---------------------------------------------------------------------------

    async def flush_last_used(self) -> None:
        """Write the collected last-use times in one statement."""
        if not self._last_used:
            return
        uses, self._last_used = self._last_used, {}
        try:
            async with self._db.connection() as conn:
                await queries.touch_api_keys(conn, uses=uses)
        except Exception as exc:  # noqa: BLE001 - best effort; keep the times for the next flush
            for key, used_at in uses.items():
                if key not in self._last_used:
                    self._last_used[key] = used_at
            logger.warning("api key last-use flush failed", extra={"error": type(exc).__name__})

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._flush_every)
            await self.flush_last_used()

    # ---- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._flush_periodically(), name="api-key-last-used"))
        if self._redis_url is not None:
            self._tasks.append(asyncio.create_task(self._listen(), name="api-key-invalidation"))

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # Bounded: a Redis read may swallow one cancellation; the loop then sees _stopping.
            _, pending = await asyncio.wait(self._tasks, timeout=_STOP_TIMEOUT_SECONDS)
            for task in pending:
                logger.warning("background task did not stop in time", extra={"task": task.get_name()})
        self._tasks.clear()
        await self.flush_last_used()
