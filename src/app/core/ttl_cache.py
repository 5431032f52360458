"""A small in-process cache whose entries expire, for the per-worker authentication caches.

Values may be None (a remembered "not found"), so `get` answers a 1-tuple on a hit and None on a
miss. Every removal advances `generation`: `get_or_load` notes the generation before it reads
the database and stores the answer only if nothing was invalidated meanwhile, so an answer read
before a change committed cannot be cached after the invalidation that change sent.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Generic, TypeVar

__all__ = ["TtlCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(self, ttl_seconds: float, max_entries: int) -> None:
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}
        self._generation = 0
        # Observability (and tests): how often a lookup was answered here or had to load.
        self.hits = 0
        self.misses = 0

    @property
    def generation(self) -> int:
        return self._generation

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> tuple[V] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            del self._entries[key]
            return None
        return (entry[1],)

    async def get_or_load(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The cached value, else `load()`'s answer, remembered unless invalidated meanwhile."""
        hit = self.get(key)
        if hit is not None:
            self.hits += 1
            return hit[0]
        self.misses += 1
        generation = self._generation
        value = await load()
        self.put(key, value, generation=generation)
        return value

    def put(self, key: K, value: V, *, generation: int | None = None) -> None:
        """Remember `value`, unless caching is off or an invalidation happened since `generation`."""
        if self._ttl <= 0 or (generation is not None and generation != self._generation):
            return
        now = time.monotonic()
        if len(self._entries) >= self._max_entries:
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
        self._entries[key] = (now + self._ttl, value)

    def discard(self, keys: Iterable[K]) -> None:
        self._generation += 1
        for key in keys:
            self._entries.pop(key, None)

    def discard_where(self, predicate: Callable[[K], bool]) -> None:
        self._generation += 1
        self._entries = {k: v for k, v in self._entries.items() if not predicate(k)}

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()
