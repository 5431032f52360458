"""Read-through caching of service results in Redis: ``@cache(ttl=..., namespace=...)``.

Usage, on a method of a service that has a ``cache_store: Cache`` attribute::

    @cache(ttl=30, namespace="item:{org_id}:{item_id}")
    async def load_item(self, org_id: UUID, item_id: UUID) -> ItemOut | None: ...

    # after the transaction that changed the item has committed:
    await self.cache_store.invalidate(f"item:{org_id}:{item_id}")

How it works:

- Values are msgspec (MessagePack) encodings of the return value, decoded into the annotated
  return type, so a cached call returns exactly what the function would (``None`` included).
- A namespace has a version counter in Redis. Entries are stored under the version read before
  computing; `invalidate` increments the version (one O(1) ``INCR``) and so retires every entry
  of the namespace at once, however many there are. A reader that raced with a write stores its
  possibly stale value under the old version, where nobody looks any more. Invalidate after the
  commit, never before.
- One round trip on a hit: a small Lua script reads the version and the entry together.
- Optionally none: with `Cache(..., local_seconds=N)` attached to the worker's invalidation
  bus, decoded values are also kept in the process for up to N seconds. `invalidate` drops
  them here at once and in other workers as soon as the bus delivers the namespace (without
  Redis, within N seconds). Values from this tier are shared between callers: treat what a
  cached method returns as read-only.
- Stampede protection: on a miss, concurrent callers in one process share one computation, and
  across processes one caller takes a short Redis lock while the others wait briefly for its
  result (then compute themselves rather than wait long).
- Redis is optional: on any Redis error the function is simply called, a warning is logged at
  most once per `breaker_seconds`, and Redis is not tried again for that long (a down Redis
  costs nothing per request). A failed invalidation is logged as an error; entries then expire
  by their TTL, which bounds staleness in every failure case.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import secrets
import time
import typing
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, Protocol, TypeVar

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.core.invalidation import InvalidationBus
from app.core.logging import get_logger

__all__ = ["INVALIDATION_CHANNEL", "Cache", "CacheStats", "HasCache", "cache"]

logger = get_logger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# KEYS[1] = the namespace's version key; ARGV[1] = the entry key without its version.
# Returns {version, entry or false}: one round trip for a hit.
_READ_SCRIPT = """
local version = redis.call('GET', KEYS[1]) or '0'
return {version, redis.call('GET', ARGV[1] .. ':' .. version)}
"""
# KEYS[1] = a lock; ARGV[1] = the holder's token. Deletes the lock only if it is still ours.
_UNLOCK_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# KEYS = {entry, lock}; ARGV = {value, ttl in ms, token}: store the value, release our lock.
_STORE_SCRIPT = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return 1
"""
_REDIS_ERRORS = (RedisError, OSError, asyncio.TimeoutError)


class CacheStats(msgspec.Struct, kw_only=True):
    """Counters of one process's cache, for tests, metrics and the health of the cache."""

    local_hits: int = 0
    hits: int = 0
    misses: int = 0
    computes: int = 0
    errors: int = 0
    invalidations: int = 0


INVALIDATION_CHANNEL = "app:cache:invalidate"
_LOCAL_MAX_NAMESPACES = 50_000


class _LocalTier:
    """Decoded values kept in this process for a few seconds, in front of Redis.

    A hit costs no round trip at all. `invalidate` drops a namespace here at once, and the
    other workers drop it when the invalidation bus brings them the namespace; without Redis,
    an entry lives at most `seconds`. A value read before an invalidation of its namespace is
    not stored after it (the namespace's generation changed meanwhile).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._entries: dict[str, dict[str, tuple[float, Any]]] = {}
        self._generations: dict[str, int] = {}

    def get(self, namespace: str, digest: str) -> tuple[bool, Any]:
        entry = self._entries.get(namespace, {}).get(digest)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def generation(self, namespace: str) -> int:
        return self._generations.get(namespace, 0)

    def put(self, namespace: str, digest: str, value: Any, ttl: float, generation: int) -> None:
        if self._generations.get(namespace, 0) != generation:
            return  # invalidated while the value was being read
        if namespace not in self._entries and len(self._entries) >= _LOCAL_MAX_NAMESPACES:
            self._entries.pop(next(iter(self._entries)))  # the oldest namespace goes first
        self._entries.setdefault(namespace, {})[digest] = (time.monotonic() + min(ttl, self.seconds), value)

    def drop(self, namespace: str) -> None:
        self._entries.pop(namespace, None)
        self._generations[namespace] = self._generations.get(namespace, 0) + 1
        if len(self._generations) > _LOCAL_MAX_NAMESPACES:
            self._generations.clear()  # only namespaces being read right now could be affected
            self._entries.clear()

    def clear(self) -> None:
        for namespace in list(self._entries):
            self.drop(namespace)


class Cache:
    """The Redis side of `@cache`: versioned namespaces, locks, and the fall-through breaker,
    with an optional per-process tier in front (`local_seconds` > 0, and `attach` to the
    invalidation bus so every worker hears of invalidations)."""

    def __init__(
        self,
        redis: Redis | None,
        *,
        prefix: str = "cache",
        lock_seconds: float = 5.0,
        wait_seconds: float = 0.5,
        breaker_seconds: float = 5.0,
        local_seconds: float = 0.0,
    ) -> None:
        self._redis = redis
        self.local = _LocalTier(local_seconds) if local_seconds > 0 else None
        self._bus: InvalidationBus | None = None
        self._prefix = prefix
        self._lock_ms = int(lock_seconds * 1000)
        self._wait_seconds = wait_seconds
        self._breaker_seconds = breaker_seconds
        self._down_until = 0.0
        self._inflight: dict[str, asyncio.Task[bytes]] = {}
        self._read: Any = None
        self._unlock: Any = None
        self._store: Any = None
        if redis is not None:
            self._read = redis.register_script(_READ_SCRIPT)  # pyright: ignore[reportUnknownMemberType]
            self._unlock = redis.register_script(_UNLOCK_SCRIPT)  # pyright: ignore[reportUnknownMemberType]
            self._store = redis.register_script(_STORE_SCRIPT)  # pyright: ignore[reportUnknownMemberType]
        self.stats = CacheStats()

    def attach(self, bus: InvalidationBus) -> None:
        """Hear of other workers' invalidations (needed only with a local tier)."""
        local = self.local
        if local is None:
            return
        self._bus = bus
        bus.register(
            INVALIDATION_CHANNEL,
            on_message=lambda payload: local.drop(payload.decode()),
            on_resubscribe=local.clear,
        )

    @property
    def available(self) -> bool:
        return self._redis is not None and time.monotonic() >= self._down_until

    def _version_key(self, namespace: str) -> str:
        # The braces make the version and the entries one hash slot (Redis Cluster friendly).
        return f"{self._prefix}:{{{namespace}}}:v"

    def _entry_key(self, namespace: str, digest: str) -> str:
        return f"{self._prefix}:{{{namespace}}}:{digest}"

    def _redis_failed(self, action: str, exc: BaseException) -> None:
        self.stats.errors += 1
        now = time.monotonic()
        if now >= self._down_until:
            logger.warning(
                "cache unavailable; calling through",
                extra={"action": action, "error": type(exc).__name__, "retry_in_s": self._breaker_seconds},
            )
        self._down_until = now + self._breaker_seconds

    async def get_or_compute(
        self, namespace: str, digest: str, ttl: float, compute: Callable[[], Awaitable[bytes]]
    ) -> bytes:
        """The cached encoding for (namespace, digest), computing and storing it on a miss."""
        if not self.available:
            return await compute()
        entry = self._entry_key(namespace, digest)
        try:
            version, found = await self._read(keys=[self._version_key(namespace)], args=[entry])
        except _REDIS_ERRORS as exc:
            self._redis_failed("read", exc)
            return await compute()
        if found is not None:
            self.stats.hits += 1
            return found
        self.stats.misses += 1
        key = f"{entry}:{version.decode() if isinstance(version, bytes) else version}"
        fill = self._inflight.get(key)
        if fill is None:
            # The fill runs as its own task: if the caller that started it goes away (a client
            # disconnects), the callers waiting on the same key still get the value.
            fill = asyncio.create_task(self._fill(key, ttl, compute))
            self._inflight[key] = fill
            fill.add_done_callback(functools.partial(self._fill_done, key))
        return await asyncio.shield(fill)

    def _fill_done(self, key: str, fill: asyncio.Task[bytes]) -> None:
        self._inflight.pop(key, None)
        if not fill.cancelled():
            fill.exception()  # retrieved here; every caller awaiting it re-raises it itself

    async def _fill(self, key: str, ttl: float, compute: Callable[[], Awaitable[bytes]]) -> bytes:
        """Compute under a cross-process lock, or wait briefly for the process that holds it."""
        assert self._redis is not None
        redis = self._redis
        lock = f"{key}:lock"
        token = secrets.token_bytes(8)  # only the holder releases its lock
        try:
            locked = bool(await redis.set(lock, token, nx=True, px=self._lock_ms))
            if not locked:
                deadline = time.monotonic() + self._wait_seconds
                delay = 0.005
                while time.monotonic() < deadline:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 0.05)
                    found: bytes | None = await redis.get(key)  # pyright: ignore[reportAssignmentType]
                    if found is not None:
                        self.stats.hits += 1
                        return found
        except _REDIS_ERRORS as exc:
            self._redis_failed("lock", exc)
            return await self._compute(compute)
        try:
            value = await self._compute(compute)
        except BaseException:
            if locked:  # let the next caller compute at once instead of waiting out the lock
                await self._redis_call("unlock", self._unlock(keys=[lock], args=[token]))
            raise
        ttl_ms = max(1, int(ttl * 1000))
        await self._redis_call("store", self._store(keys=[key, lock], args=[value, ttl_ms, token]))
        return value

    async def _redis_call(self, action: str, call: Awaitable[Any]) -> None:
        try:
            await call
        except _REDIS_ERRORS as exc:
            self._redis_failed(action, exc)

    async def _compute(self, compute: Callable[[], Awaitable[bytes]]) -> bytes:
        self.stats.computes += 1
        return await compute()

    async def invalidate(self, *namespaces: str) -> None:
        """Retire every entry of each namespace (one INCR each, in one round trip), here at once
        and, through the invalidation bus, in every other worker's local tier."""
        if self.local is not None:
            for namespace in namespaces:
                self.local.drop(namespace)
        if self._bus is not None:
            for namespace in namespaces:
                await self._bus.publish(INVALIDATION_CHANNEL, namespace.encode())
        if self._redis is None or not namespaces:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for namespace in namespaces:
                    pipe.incr(self._version_key(namespace))
                await pipe.execute()
        except _REDIS_ERRORS as exc:
            self.stats.errors += 1
            logger.error(
                "cache invalidation failed; entries expire by their TTL",
                extra={"namespaces": list(namespaces), "error": type(exc).__name__},
            )
            return
        self.stats.invalidations += len(namespaces)


class HasCache(Protocol):
    """A service whose methods use `@cache`: it holds the process's `Cache`."""

    @property
    def cache_store(self) -> Cache: ...


def cache(*, ttl: float, namespace: str) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Cache an async service method's result for `ttl` seconds in `namespace`.

    `namespace` is a template over the method's arguments (``"item:{org_id}:{item_id}"``);
    invalidating it retires every cached call in it. The entry within the namespace is keyed by
    all the arguments, so they must be msgspec-encodable. The method's first parameter must be
    a `HasCache`; its return annotation is the type cached values are decoded into.
    """
    if ttl <= 0:
        raise ValueError("ttl must be positive")

    def decorate(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        signature = inspect.signature(fn)
        name = f"{fn.__module__}.{fn.__qualname__}"
        codec: list[tuple[msgspec.msgpack.Decoder[Any], str]] = []  # built on first call

        def decoder_and_schema() -> tuple[msgspec.msgpack.Decoder[Any], str]:
            # Annotations resolve late (``from __future__ import annotations``), hence lazily.
            # The schema's digest is part of every key, so a deploy that changes the return
            # type never reads entries written in the old shape.
            if not codec:
                returns = typing.get_type_hints(fn)["return"]
                try:
                    shape = msgspec.json.encode(msgspec.json.schema(returns))
                except (TypeError, ValueError):
                    shape = repr(returns).encode()
                codec.append(
                    (msgspec.msgpack.Decoder(returns), hashlib.blake2b(shape, digest_size=8).hexdigest())
                )
            return codec[0]

        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            owner, *arguments = bound.arguments.values()
            store: Cache = typing.cast(HasCache, owner).cache_store
            scope = namespace.format(**bound.arguments)
            decoder, schema = decoder_and_schema()
            digest = hashlib.blake2b(
                msgspec.msgpack.encode([name, schema, arguments]), digest_size=16
            ).hexdigest()

            async def compute() -> bytes:
                return msgspec.msgpack.encode(await fn(*args, **kwargs))

            local = store.local
            generation = 0
            if local is not None:
                found, value = local.get(scope, digest)
                if found:
                    store.stats.local_hits += 1
                    return value
                generation = local.generation(scope)
            raw = await store.get_or_compute(scope, digest, ttl, compute)
            try:
                value = decoder.decode(raw)
            except (msgspec.ValidationError, msgspec.DecodeError):
                logger.warning("cache entry does not decode; calling through", extra={"function": name})
                return await fn(*args, **kwargs)
            if local is not None:
                local.put(scope, digest, value, ttl, generation)
            return value

        return wrapper

    return decorate
