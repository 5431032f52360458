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
from collections.abc import Iterable
from datetime import UTC, datetime
from uuid import UUID

import msgspec

from app.accounts.auth import API_KEY_MARK as KEY_MARK
from app.core.db import Database
from app.core.exceptions import AuthenticationError
from app.core.invalidation import InvalidationBus, stop_tasks
from app.core.logging import get_logger
from app.core.responses import ErrorCode
from app.core.ttl_cache import TtlCache
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
    """One per worker process: the key cache (invalidated over the worker's `InvalidationBus`)
    and last-use batching."""

    def __init__(
        self,
        *,
        db: Database,
        bus: InvalidationBus,
        cache_seconds: float,
        last_used_flush_seconds: float,
    ) -> None:
        self._db = db
        self._bus = bus
        self._flush_every = last_used_flush_seconds
        self._cache: TtlCache[str, ApiKeyRecord | None] = TtlCache(cache_seconds, _MAX_CACHE_ENTRIES)
        self._last_used: dict[tuple[UUID, UUID], datetime] = {}
        self._tasks: list[asyncio.Task[None]] = []
        bus.register(INVALIDATION_CHANNEL, on_message=self._on_message, on_resubscribe=self._cache.clear)

    @property
    def cache_hits(self) -> int:
        return self._cache.hits

    @property
    def cache_misses(self) -> int:
        """How often a request needed the database (observability, tests)."""
        return self._cache.misses

    @property
    def listening(self) -> asyncio.Event:
        """Set while this worker is subscribed to invalidations."""
        return self._bus.listening

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
        async def load() -> ApiKeyRecord | None:
            async with self._db.connection() as conn:
                return await queries.get_api_key_by_prefix(conn, prefix=prefix)

        return await self._cache.get_or_load(prefix, load)

    # ---- revocation -------------------------------------------------------------------------

    def forget(self, prefixes: Iterable[str]) -> None:
        self._cache.discard(prefixes)

    async def revoked(self, prefixes: list[str]) -> None:
        """Call after the revoking transaction commits: drop the keys here, tell other workers."""
        if not prefixes:
            return
        self.forget(prefixes)
        await self._bus.publish(INVALIDATION_CHANNEL, msgspec.json.encode(_Invalidation(prefixes)))

    def _on_message(self, data: bytes) -> None:
        self.forget(msgspec.json.decode(data, type=_Invalidation).prefixes)

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
        """Start the last-use flusher (the shared invalidation bus is started by the app)."""
        self._tasks.append(asyncio.create_task(self._flush_periodically(), name="api-key-last-used"))

    async def stop(self) -> None:
        await stop_tasks(self._tasks)
        self._tasks.clear()
        await self.flush_last_used()
