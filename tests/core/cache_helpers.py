"""Helpers for tests/core/test_cache.py: a service with cached methods, and Caches on the test Redis.

The return types live at module level: `@cache` resolves a method's return annotation (with
`typing.get_type_hints`) in the module that defines it.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime
from uuid import UUID

import msgspec
from redis.asyncio import Redis

from app.core.cache import Cache, cache

# Nothing listens on port 1: connections are refused at once.
DEAD_REDIS_URL = "redis://127.0.0.1:1/0"


class Part(msgspec.Struct, kw_only=True):
    sku: str
    quantity: int


class Thing(msgspec.Struct, kw_only=True):
    id: UUID
    org_id: UUID
    name: str
    created_at: datetime
    tags: list[str]
    attributes: dict[str, int]
    parts: list[Part]
    price: int | None = None
    note: str | None = None


def make_thing(org_id: UUID, item_id: UUID, name: str) -> Thing:
    return Thing(
        id=item_id,
        org_id=org_id,
        name=name,
        created_at=datetime(2026, 3, 14, 15, 9, 26, 535897, tzinfo=UTC),
        tags=["a", "b", "ünïcødé"],
        attributes={"width": 3, "height": -7, "big": 2**40},
        parts=[Part(sku="x-1", quantity=2), Part(sku="y-2", quantity=0)],
        price=1999,
        note=None,
    )


class Things:
    """A service with cached reads. It counts its calls and can be slowed, gated or made to fail.

    Each read looks its data up first ("the database read") and only then does the slow part,
    like a real read that hits the database before the response is encoded.
    """

    def __init__(self, store: Cache, *, delay: float = 0.0) -> None:
        self._store = store
        self.delay = delay
        self.calls = 0
        self.names: dict[UUID, str] = {}  # item -> name; an item not in here is "not found"
        self.generation = 0
        self.error: Exception | None = None
        self.gate: asyncio.Event | None = None  # when set, each call waits for it
        self.started = asyncio.Event()  # set by the first call that starts

    @property
    def cache_store(self) -> Cache:
        return self._store

    async def _work(self) -> None:
        self.calls += 1
        self.started.set()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error

    @cache(ttl=30, namespace="thing:{org_id}:{item_id}")
    async def load(self, org_id: UUID, item_id: UUID) -> Thing | None:
        name = self.names.get(item_id)
        await self._work()
        return None if name is None else make_thing(org_id, item_id, name)

    @cache(ttl=30, namespace="thing:{org_id}:{item_id}")
    async def describe(self, org_id: UUID, item_id: UUID) -> str:
        await self._work()
        return f"describe {item_id}"

    @cache(ttl=30, namespace="org:{org_id}")
    async def number(self, org_id: UUID, n: int, scale: int = 1) -> str:
        generation = self.generation
        await self._work()
        return f"{n * scale}@{generation}"

    @cache(ttl=0.2, namespace="short:{key}")
    async def short(self, key: str) -> int:
        await self._work()
        return self.calls


class Caches:
    """Caches on the test Redis under one key prefix unique to the test; cleans up after it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.prefix = f"test-cache-{secrets.token_hex(8)}"
        self._clients: list[Redis] = []
        self.admin = self.client()  # for looking at the keys and cleaning up

    def client(self, url: str | None = None, *, timeout: float = 2.0) -> Redis:
        client = Redis.from_url(url or self.url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._clients.append(client)
        return client

    def cache(self, *, wait_seconds: float = 0.5, lock_seconds: float = 5.0) -> Cache:
        """A Cache with a Redis client of its own, as another process would have."""
        return Cache(self.client(), prefix=self.prefix, wait_seconds=wait_seconds, lock_seconds=lock_seconds)

    def dead_cache(self, *, breaker_seconds: float = 30.0) -> Cache:
        """A Cache whose Redis does not answer (connection refused, short timeouts)."""
        client = self.client(DEAD_REDIS_URL, timeout=0.2)
        return Cache(client, prefix=self.prefix, breaker_seconds=breaker_seconds)

    async def keys(self) -> list[str]:
        """Every key of this test in Redis."""
        found = self.admin.scan_iter(match=f"{self.prefix}:*", count=1000)
        return sorted([key.decode() async for key in found])

    async def close(self) -> None:
        keys = await self.keys()
        if keys:
            await self.admin.delete(*keys)
        for client in self._clients:
            await client.aclose()
