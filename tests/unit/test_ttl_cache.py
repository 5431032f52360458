"""The per-worker expiring cache behind the API key and membership caches (app.core.ttl_cache)."""

from __future__ import annotations

import pytest

from app.core import ttl_cache
from app.core.ttl_cache import TtlCache

TTL = 5.0


class Clock:
    """Stands in for the `time` module the cache reads `monotonic()` from."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(ttl_cache, "time", fake)
    return fake


def test_a_hit_until_the_lifetime_ends_and_none_is_a_value(clock: Clock) -> None:
    cache: TtlCache[str, int | None] = TtlCache(TTL, 10)
    cache.put("found", 1)
    cache.put("not found", None)
    assert cache.get("found") == (1,)
    assert cache.get("not found") == (None,)
    assert cache.get("never seen") is None
    clock.now += TTL
    assert cache.get("found") is None
    assert len(cache) == 1  # the expired entry that was read is gone


def test_a_zero_lifetime_caches_nothing(clock: Clock) -> None:
    cache: TtlCache[str, int] = TtlCache(0, 10)
    cache.put("a", 1)
    assert cache.get("a") is None


async def test_get_or_load_loads_once_per_lifetime(clock: Clock) -> None:
    cache: TtlCache[str, str | None] = TtlCache(TTL, 10)
    loads: list[str] = []

    async def load() -> str | None:
        loads.append("x")
        return None

    assert [await cache.get_or_load("k", load) for _ in range(3)] == [None, None, None]
    assert (len(loads), cache.misses, cache.hits) == (1, 1, 2)
    clock.now += TTL
    await cache.get_or_load("k", load)
    assert len(loads) == 2


async def test_an_answer_loaded_across_an_invalidation_is_not_stored(clock: Clock) -> None:
    cache: TtlCache[tuple[str, str], str] = TtlCache(TTL, 10)

    async def stale_read() -> str:
        # A change commits and is invalidated while this (older) answer is on its way.
        cache.discard([("org", "someone else")])
        return "admin"

    assert await cache.get_or_load(("org", "user"), stale_read) == "admin"
    assert cache.get(("org", "user")) is None

    async def fresh_read() -> str:
        return "member"

    assert await cache.get_or_load(("org", "user"), fresh_read) == "member"
    assert cache.get(("org", "user")) == ("member",)


def test_discard_where_drops_matching_keys(clock: Clock) -> None:
    cache: TtlCache[tuple[str, str], str] = TtlCache(TTL, 10)
    for key in [("a", "1"), ("a", "2"), ("b", "1")]:
        cache.put(key, "member")
    cache.discard_where(lambda key: key[0] == "a")
    assert [cache.get(k) for k in [("a", "1"), ("a", "2"), ("b", "1")]] == [None, None, ("member",)]


def test_the_size_is_bounded(clock: Clock) -> None:
    cache: TtlCache[int, int] = TtlCache(TTL, 3)
    for key in range(3):
        cache.put(key, key)
    clock.now += TTL  # all expired: they make room
    cache.put(3, 3)
    assert len(cache) == 1
    for key in range(4, 7):
        cache.put(key, key)  # full of live entries: it starts over
    assert len(cache) <= 3
    assert cache.get(6) == (6,)
