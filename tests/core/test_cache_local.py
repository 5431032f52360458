"""The per-process tier of app.core.cache: hits without Redis, invalidation here and through the bus."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

from app.core.cache import Cache
from app.core.invalidation import InvalidationBus
from tests.core.cache_helpers import Caches, Things

if TYPE_CHECKING:
    from tests.services import TestServices


@pytest.fixture
async def caches(test_services: TestServices) -> AsyncIterator[Caches]:
    factory = Caches(test_services.redis_url)
    try:
        yield factory
    finally:
        await factory.close()


def local_cache(caches: Caches, seconds: float = 30.0) -> Cache:
    return Cache(caches.client(), prefix=caches.prefix, local_seconds=seconds)


async def test_a_second_read_is_served_in_process(caches: Caches) -> None:
    store = local_cache(caches)
    things = Things(store)
    org, item = uuid.uuid4(), uuid.uuid4()
    things.names[item] = "first"

    first = await things.load(org, item)
    second = await things.load(org, item)

    assert first == second
    assert things.calls == 1
    assert (store.stats.misses, store.stats.hits, store.stats.local_hits) == (1, 0, 1)


async def test_an_invalidation_is_seen_by_the_next_read_here(caches: Caches) -> None:
    store = local_cache(caches)
    things = Things(store)
    org, item = uuid.uuid4(), uuid.uuid4()
    things.names[item] = "before"
    await things.load(org, item)

    things.names[item] = "after"
    await store.invalidate(f"thing:{org}:{item}")

    loaded = await things.load(org, item)
    assert loaded is not None
    assert loaded.name == "after"


async def test_another_worker_drops_its_copy_when_the_bus_brings_the_namespace(
    caches: Caches, test_services: TestServices
) -> None:
    org, item = uuid.uuid4(), uuid.uuid4()
    workers: list[tuple[Cache, Things, InvalidationBus]] = []
    for _ in range(2):
        store = local_cache(caches)
        bus = InvalidationBus(redis=caches.client(), redis_url=test_services.redis_url)
        store.attach(bus)
        bus.start()
        things = Things(store)
        things.names[item] = "before"
        workers.append((store, things, bus))
    try:
        for _, _, bus in workers:
            await asyncio.wait_for(bus.listening.wait(), 5)
        (mine, my_things, _), (_theirs, their_things, _) = workers
        assert (await their_things.load(org, item)) is not None  # cached in "their" process
        their_things.names[item] = "after"
        my_things.names[item] = "after"

        await mine.invalidate(f"thing:{org}:{item}")

        for _ in range(100):
            loaded = await their_things.load(org, item)
            if loaded is not None and loaded.name == "after":
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the other worker kept its stale copy")
    finally:
        for _, _, bus in workers:
            await bus.stop()


async def test_a_value_read_before_an_invalidation_is_not_kept_after_it(caches: Caches) -> None:
    store = local_cache(caches)
    things = Things(store)
    org, item = uuid.uuid4(), uuid.uuid4()
    things.names[item] = "old"
    things.gate = asyncio.Event()

    slow = asyncio.ensure_future(things.load(org, item))  # reads "old", then waits
    await things.started.wait()
    things.names[item] = "new"
    await store.invalidate(f"thing:{org}:{item}")
    things.gate.set()
    stale = await slow
    things.gate = None

    assert stale is not None
    assert stale.name == "old"
    fresh = await things.load(org, item)
    assert fresh is not None
    assert fresh.name == "new"


async def test_without_the_bus_a_local_copy_lives_at_most_its_seconds(caches: Caches) -> None:
    store = local_cache(caches, seconds=0.2)
    other = local_cache(caches, seconds=0.2)
    org, item = uuid.uuid4(), uuid.uuid4()
    mine, theirs = Things(store), Things(other)
    mine.names[item] = theirs.names[item] = "before"
    await theirs.load(org, item)

    theirs.names[item] = mine.names[item] = "after"
    await store.invalidate(f"thing:{org}:{item}")  # no bus: "theirs" is not told

    await asyncio.sleep(0.3)
    loaded = await theirs.load(org, item)
    assert loaded is not None
    assert loaded.name == "after"
