"""`app.core.cache`: read-through caching in a real Redis.

Hits and misses, exact round trips through msgspec, keys and namespaces, invalidation by
version, TTLs, stampede protection in one process and across processes, errors, a Redis that is
down (the breaker), and the race between a slow read and an invalidation.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar
from uuid import UUID, uuid4

import pytest

from app.core.cache import Cache, cache
from tests.core.cache_helpers import Caches, Thing, Things, make_thing

if TYPE_CHECKING:  # imported at run time, pytest would try to collect it as a test class
    from tests.services import TestServices

CACHE_LOGGER = "app.core.cache"
T = TypeVar("T")


@pytest.fixture
async def caches(test_services: TestServices) -> AsyncIterator[Caches]:
    factory = Caches(test_services.redis_url)
    try:
        yield factory
    finally:
        await factory.close()


def log_records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == CACHE_LOGGER and r.levelno == level]


def spawn(call: Awaitable[T]) -> asyncio.Task[T]:
    """Run a cached call in a task of its own (`@cache` methods return awaitables, not coroutines)."""

    async def run() -> T:
        return await call

    return asyncio.create_task(run())


async def wait_until(condition: Callable[[], bool]) -> None:
    """Poll `condition()` until it is true (for at most about 5 s)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.005)
    pytest.fail("the condition did not become true")


# --- hits, misses and round trips -------------------------------------------------------------


async def test_miss_then_hit_calls_the_function_once(caches: Caches) -> None:
    store = caches.cache()
    things = Things(store)
    org, item = uuid4(), uuid4()
    things.names[item] = "first"

    first = await things.load(org, item)
    second = await things.load(org, item)

    assert first == second == make_thing(org, item, "first")
    assert things.calls == 1
    assert (store.stats.misses, store.stats.computes, store.stats.hits) == (1, 1, 1)
    assert store.stats.errors == 0


async def test_value_round_trips_exactly_into_the_return_type(caches: Caches) -> None:
    things = Things(caches.cache())
    org, item = uuid4(), uuid4()
    things.names[item] = "round trip"
    expected = make_thing(org, item, "round trip")

    computed = await things.load(org, item)
    cached = await things.load(org, item)

    assert things.calls == 1
    for value in (computed, cached):
        assert isinstance(value, Thing)
        assert value == expected
        assert isinstance(value.id, UUID)
        assert isinstance(value.org_id, UUID)
        assert value.created_at == expected.created_at
        assert value.created_at.tzinfo is not None
        assert value.created_at.utcoffset() == expected.created_at.utcoffset()
        assert value.created_at.microsecond == 535897
        assert value.tags == ["a", "b", "ünïcødé"]
        assert value.attributes == {"width": 3, "height": -7, "big": 2**40}
        assert [type(part).__name__ for part in value.parts] == ["Part", "Part"]
        assert value.note is None


async def test_none_is_cached_like_any_value(caches: Caches) -> None:
    store = caches.cache()
    things = Things(store)
    org, missing = uuid4(), uuid4()

    assert await things.load(org, missing) is None
    assert await things.load(org, missing) is None

    # A cached None is an entry, not a miss: the function ran once.
    assert things.calls == 1
    assert (store.stats.misses, store.stats.hits) == (1, 1)


async def test_entries_are_keyed_by_all_arguments(caches: Caches) -> None:
    things = Things(caches.cache())
    org, other_org = uuid4(), uuid4()

    assert await things.number(org, 1) == "1@0"
    assert await things.number(org, 2) == "2@0"
    assert await things.number(other_org, 1) == "1@0"
    assert await things.number(org, 1, scale=3) == "3@0"
    assert things.calls == 4

    # The same arguments, however they are passed (defaults included), are the same entry.
    assert await things.number(org, 1) == "1@0"
    assert await things.number(org_id=org, n=1) == "1@0"
    assert await things.number(org, 1, scale=1) == "1@0"
    assert await things.number(org, n=1, scale=3) == "3@0"
    assert things.calls == 4


async def test_methods_sharing_a_namespace_have_separate_entries(caches: Caches) -> None:
    things = Things(caches.cache())
    org, item = uuid4(), uuid4()
    things.names[item] = "thing"

    assert await things.load(org, item) == make_thing(org, item, "thing")
    assert await things.describe(org, item) == f"describe {item}"
    assert await things.load(org, item) == make_thing(org, item, "thing")
    assert await things.describe(org, item) == f"describe {item}"
    assert things.calls == 2


async def test_entries_are_shared_by_service_instances_on_one_cache(caches: Caches) -> None:
    store = caches.cache()
    one, two = Things(store), Things(store)
    org, item = uuid4(), uuid4()
    one.names[item] = "from one"

    assert await one.load(org, item) == make_thing(org, item, "from one")
    assert await two.load(org, item) == make_thing(org, item, "from one")
    assert (one.calls, two.calls) == (1, 0)


# --- namespaces and invalidation --------------------------------------------------------------


async def test_namespace_is_templated_from_the_arguments(caches: Caches) -> None:
    store = caches.cache()
    things = Things(store)
    org, item, other_item = uuid4(), uuid4(), uuid4()
    things.names.update({item: "one", other_item: "two"})
    await things.load(org, item)
    await things.describe(org, item)
    await things.load(org, other_item)
    assert things.calls == 3

    things.names.update({item: "one, renamed", other_item: "two, renamed"})
    await store.invalidate(f"thing:{org}:{item}")

    # Every entry of that item's namespace is recomputed; the other item's is still cached.
    assert await things.load(org, item) == make_thing(org, item, "one, renamed")
    assert await things.describe(org, item) == f"describe {item}"
    assert await things.load(org, other_item) == make_thing(org, other_item, "two")
    assert things.calls == 5
    assert store.stats.invalidations == 1


async def test_invalidate_retires_every_entry_of_the_namespace_with_one_incr(caches: Caches) -> None:
    store = caches.cache()
    things = Things(store)
    org, other_org = uuid4(), uuid4()
    numbers = range(100)
    assert await asyncio.gather(*(things.number(org, n) for n in numbers)) == [f"{n}@0" for n in numbers]
    assert await things.number(other_org, 7) == "7@0"
    assert things.calls == 101
    keys_before = await caches.keys()
    entries = [key for key in keys_before if key.startswith(f"{caches.prefix}:{{org:{org}}}:")]
    assert len(entries) == 100

    things.generation = 1
    await store.invalidate(f"org:{org}")

    # One counter was incremented; no entry was touched (they expire by their TTL)...
    assert await caches.admin.get(f"{caches.prefix}:{{org:{org}}}:v") == b"1"
    assert sorted([*keys_before, f"{caches.prefix}:{{org:{org}}}:v"]) == await caches.keys()
    assert store.stats.invalidations == 1
    # ...yet none of them is served any more, and the other namespace is untouched.
    assert await asyncio.gather(*(things.number(org, n) for n in numbers)) == [f"{n}@1" for n in numbers]
    assert things.calls == 201
    assert await things.number(other_org, 7) == "7@0"
    assert things.calls == 201
    # The new entries are cached in turn.
    assert await things.number(org, 42) == "42@1"
    assert things.calls == 201


async def test_invalidate_several_namespaces_in_one_call(caches: Caches) -> None:
    store = caches.cache()
    things = Things(store)
    org = uuid4()
    items = [uuid4() for _ in range(3)]
    for item in items:
        things.names[item] = "old"
        await things.load(org, item)
    for item in items:
        things.names[item] = "new"

    await store.invalidate(f"thing:{org}:{items[0]}", f"thing:{org}:{items[1]}")

    assert [await things.load(org, item) for item in items] == [
        make_thing(org, items[0], "new"),
        make_thing(org, items[1], "new"),
        make_thing(org, items[2], "old"),
    ]
    assert things.calls == 5
    assert store.stats.invalidations == 2


async def test_invalidating_nothing_or_an_unused_namespace_is_harmless(caches: Caches) -> None:
    store = caches.cache()
    things = Things(store)
    org, item = uuid4(), uuid4()
    await things.load(org, item)

    await store.invalidate()
    await store.invalidate(f"thing:{org}:{uuid4()}")

    await things.load(org, item)
    assert things.calls == 1
    assert store.stats.errors == 0


# --- TTL --------------------------------------------------------------------------------------


async def test_an_entry_expires_after_its_ttl(caches: Caches) -> None:
    things = Things(caches.cache())

    assert await things.short("k") == 1
    assert await things.short("k") == 1  # cached (ttl 0.2 s)
    await asyncio.sleep(0.5)
    assert await things.short("k") == 2
    assert things.calls == 2


def test_ttl_must_be_positive() -> None:
    with pytest.raises(ValueError, match="ttl"):
        cache(ttl=0, namespace="x")
    with pytest.raises(ValueError, match="ttl"):
        cache(ttl=-1, namespace="x")


# --- stampede protection ----------------------------------------------------------------------


async def test_concurrent_misses_in_one_process_compute_once(caches: Caches) -> None:
    store = caches.cache()
    things = Things(store, delay=0.1)
    org, item = uuid4(), uuid4()
    things.names[item] = "cold"

    results = await asyncio.gather(*(things.load(org, item) for _ in range(50)))

    assert results == [make_thing(org, item, "cold")] * 50
    assert things.calls == 1
    assert store.stats.computes == 1
    assert store.stats.hits + store.stats.misses == 50


async def test_concurrent_misses_in_two_processes_compute_once(caches: Caches) -> None:
    # Two Caches with their own Redis clients and single-flight tables: two processes.
    store_a, store_b = caches.cache(wait_seconds=5), caches.cache(wait_seconds=5)
    things_a, things_b = Things(store_a, delay=0.1), Things(store_b, delay=0.1)
    org, item = uuid4(), uuid4()
    things_a.names[item] = things_b.names[item] = "shared"

    results = await asyncio.gather(
        *(things_a.load(org, item) for _ in range(25)), *(things_b.load(org, item) for _ in range(25))
    )

    assert results == [make_thing(org, item, "shared")] * 50
    assert things_a.calls + things_b.calls == 1
    assert store_a.stats.computes + store_b.stats.computes == 1


async def test_waiter_computes_itself_when_the_lock_holder_is_too_slow(caches: Caches) -> None:
    holder = Things(caches.cache(wait_seconds=5))
    waiter = Things(caches.cache(wait_seconds=0.1))
    org, item = uuid4(), uuid4()
    holder.names[item] = waiter.names[item] = "slow"
    holder.gate = asyncio.Event()

    holding = spawn(holder.load(org, item))
    try:
        await asyncio.wait_for(holder.started.wait(), 5)  # the holder has the lock and computes
        assert await asyncio.wait_for(waiter.load(org, item), 5) == make_thing(org, item, "slow")
        assert not holding.done()  # the waiter did not wait for the holder
        assert waiter.calls == 1
    finally:
        holder.gate.set()
    assert await holding == make_thing(org, item, "slow")
    assert holder.calls == 1


async def test_callers_still_get_the_value_when_the_first_caller_is_cancelled(caches: Caches) -> None:
    store = caches.cache()
    things = Things(store)
    org, item = uuid4(), uuid4()
    things.names[item] = "survives"
    things.gate = asyncio.Event()

    first = spawn(things.load(org, item))
    await asyncio.wait_for(things.started.wait(), 5)
    others = [spawn(things.load(org, item)) for _ in range(5)]
    await wait_until(lambda: store.stats.misses == 6)  # the others joined the computation
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    things.gate.set()

    results = await asyncio.wait_for(asyncio.gather(*others), 5)
    assert results == [make_thing(org, item, "survives")] * 5
    assert things.calls == 1
    # The value was stored even though the caller that started the computation went away.
    assert await things.load(org, item) == make_thing(org, item, "survives")
    assert things.calls == 1


# --- errors in the function -------------------------------------------------------------------


async def test_an_exception_reaches_every_waiter_and_nothing_is_cached(caches: Caches) -> None:
    store = caches.cache(wait_seconds=0.2)
    things = Things(store, delay=0.1)
    org, item = uuid4(), uuid4()
    things.names[item] = "after the error"
    things.error = RuntimeError("database down")

    results = await asyncio.gather(*(things.load(org, item) for _ in range(10)), return_exceptions=True)

    assert all(isinstance(result, RuntimeError) for result in results), results
    assert {str(result) for result in results} == {"database down"}
    assert things.calls == 1

    things.error = None
    assert await things.load(org, item) == make_thing(org, item, "after the error")
    assert things.calls == 2
    assert await things.load(org, item) == make_thing(org, item, "after the error")
    assert things.calls == 2
    assert store.stats.errors == 0


async def test_a_failed_computation_releases_the_lock(caches: Caches) -> None:
    store = caches.cache(wait_seconds=1.5)
    things = Things(store)
    org, item = uuid4(), uuid4()
    things.names[item] = "retry"
    things.error = RuntimeError("boom")
    with pytest.raises(RuntimeError, match="boom"):
        await things.load(org, item)
    things.error = None

    started = time.monotonic()
    assert await things.load(org, item) == make_thing(org, item, "retry")
    elapsed = time.monotonic() - started

    assert [key for key in await caches.keys() if key.endswith(":lock")] == []
    assert elapsed < 0.75, f"the retry waited {elapsed:.2f} s for the lock of the failed computation"


# --- Redis unavailable ------------------------------------------------------------------------


async def test_a_dead_redis_is_called_through_with_one_warning(
    caches: Caches, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=CACHE_LOGGER)
    store = caches.dead_cache()
    things = Things(store)
    org, item = uuid4(), uuid4()
    things.names[item] = "through"
    expected = make_thing(org, item, "through")

    results = await asyncio.gather(*(things.load(org, item) for _ in range(10)))
    assert results == [expected] * 10
    assert things.calls == 10
    errors = store.stats.errors
    assert 1 <= errors <= 10

    # The breaker is open: Redis is not tried again (no new errors), calls go straight through.
    started = time.monotonic()
    for _ in range(50):
        assert await things.load(org, item) == expected
    assert time.monotonic() - started < 2.0
    assert things.calls == 60
    assert store.stats.errors == errors
    assert not store.available
    assert store.stats.hits == 0

    warnings = log_records(caplog, logging.WARNING)
    assert len(warnings) == 1
    assert warnings[0].getMessage() == "cache unavailable; calling through"
    assert getattr(warnings[0], "action", None) == "read"


async def test_the_breaker_tries_redis_again_after_its_window(
    caches: Caches, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=CACHE_LOGGER)
    store = caches.dead_cache(breaker_seconds=0.2)
    things = Things(store)
    org, item = uuid4(), uuid4()

    assert await things.load(org, item) is None
    assert await things.load(org, item) is None
    assert store.stats.errors == 1
    assert len(log_records(caplog, logging.WARNING)) == 1

    await asyncio.sleep(0.4)
    assert store.available
    assert await things.load(org, item) is None
    assert store.stats.errors == 2
    assert len(log_records(caplog, logging.WARNING)) == 2
    assert things.calls == 3


async def test_invalidate_on_a_dead_redis_logs_an_error_and_does_not_raise(
    caches: Caches, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=CACHE_LOGGER)
    store = caches.dead_cache()

    await store.invalidate("thing:a:b", "thing:a:c")

    assert store.stats.errors == 1
    assert store.stats.invalidations == 0
    errors = log_records(caplog, logging.ERROR)
    assert len(errors) == 1
    assert errors[0].getMessage() == "cache invalidation failed; entries expire by their TTL"
    assert getattr(errors[0], "namespaces", None) == ["thing:a:b", "thing:a:c"]


async def test_without_redis_every_call_goes_through() -> None:
    store = Cache(None)
    things = Things(store)
    org, item = uuid4(), uuid4()
    things.names[item] = "no redis"

    assert await things.load(org, item) == make_thing(org, item, "no redis")
    assert await things.load(org, item) == make_thing(org, item, "no redis")
    await store.invalidate(f"thing:{org}:{item}")

    assert things.calls == 2
    assert not store.available
    assert store.stats == type(store.stats)()


# --- versioning races -------------------------------------------------------------------------


async def test_a_value_computed_before_an_invalidate_is_not_served_after_it(caches: Caches) -> None:
    store = caches.cache()
    things = Things(store)
    org, item = uuid4(), uuid4()
    things.names[item] = "old"
    things.gate = asyncio.Event()

    # A read that saw the old data is still running when the write commits and invalidates.
    slow = spawn(things.load(org, item))
    await asyncio.wait_for(things.started.wait(), 5)
    things.names[item] = "new"
    await store.invalidate(f"thing:{org}:{item}")
    things.gate.set()
    assert await slow == make_thing(org, item, "old")  # it began before the write: fine

    # Its value was stored after the invalidate, but under the retired version.
    assert await things.load(org, item) == make_thing(org, item, "new")
    assert things.calls == 2
    assert await things.load(org, item) == make_thing(org, item, "new")
    assert things.calls == 2


async def test_a_call_after_an_invalidate_does_not_join_a_stale_computation(caches: Caches) -> None:
    store = caches.cache(wait_seconds=5)
    stale, fresh = Things(store), Things(store)
    org, item = uuid4(), uuid4()
    stale.names[item] = "old"
    fresh.names[item] = "new"
    stale.gate = asyncio.Event()

    slow = spawn(stale.load(org, item))
    try:
        await asyncio.wait_for(stale.started.wait(), 5)
        await store.invalidate(f"thing:{org}:{item}")
        # Neither the in-process computation nor its Redis lock belongs to the new version.
        assert await asyncio.wait_for(fresh.load(org, item), 5) == make_thing(org, item, "new")
        assert fresh.calls == 1
    finally:
        stale.gate.set()
    assert await slow == make_thing(org, item, "old")
    assert await stale.load(org, item) == make_thing(org, item, "new")
    assert stale.calls == 1
