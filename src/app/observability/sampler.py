"""Metrics read from the process's state rather than counted as things happen.

- The database pool (size, idle, in use) of this worker.
- The service cache's counters (`CacheStats`), added to `app_cache_lookups_total` as deltas.
- The job queue's depth by state: a query, so at most every `JOBS_MAX_AGE` seconds, with a short
  timeout (a slow or down database must not make scrapes hang; the gauge keeps its last value).

`refresh` runs before each scrape of /metrics. With several worker processes each must publish
its own pool and cache numbers even when another one answers the scrape, so then every worker
also refreshes every `interval` seconds in the background (`start`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from app.core.cache import Cache
from app.core.db import Database
from app.core.logging import get_logger
from app.core.metrics import CACHE_LOOKUPS, DB_POOL_CONNECTIONS, DB_POOL_SATURATION, JOBS, JOBS_SCRAPE_ERRORS
from app.jobs import queries as job_queries
from app.jobs.structs import JobState

__all__ = ["MetricsSampler"]

logger = get_logger(__name__)
_CACHE_RESULTS = (("local_hits", "local_hit"), ("hits", "hit"), ("misses", "miss"), ("errors", "error"))


class MetricsSampler:
    JOBS_MAX_AGE = 5.0
    JOBS_TIMEOUT = 1.0

    def __init__(self, *, db: Database, cache: Cache | None = None, interval: float = 5.0) -> None:
        self._db = db
        self._cache = cache
        self._interval = interval
        self._cache_seen = {name: 0 for name, _ in _CACHE_RESULTS}
        self._jobs_read_at = -1e9
        self._jobs_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> None:
        self.sample_pool()
        self.sample_cache()
        await self.sample_jobs()

    def sample_pool(self) -> None:
        try:
            pool = self._db.pool
        except RuntimeError:  # not connected (yet, or any more)
            return
        size, idle, maximum = pool.get_size(), pool.get_idle_size(), pool.get_max_size()
        in_use = size - idle
        DB_POOL_CONNECTIONS.labels("in_use").set(in_use)
        DB_POOL_CONNECTIONS.labels("idle").set(idle)
        DB_POOL_CONNECTIONS.labels("open").set(size)
        DB_POOL_CONNECTIONS.labels("max").set(maximum)
        DB_POOL_SATURATION.set(in_use / maximum if maximum else 0.0)

    def sample_cache(self) -> None:
        if self._cache is None:
            return
        stats = self._cache.stats
        for name, result in _CACHE_RESULTS:
            value: int = getattr(stats, name)
            delta = value - self._cache_seen[name]
            if delta > 0:
                CACHE_LOOKUPS.labels(result).inc(delta)
            self._cache_seen[name] = value

    async def sample_jobs(self) -> None:
        if time.monotonic() - self._jobs_read_at < self.JOBS_MAX_AGE:
            return
        async with self._jobs_lock:
            if time.monotonic() - self._jobs_read_at < self.JOBS_MAX_AGE:
                return  # another scrape read them meanwhile
            # Also after a failure: a down database is asked again only after JOBS_MAX_AGE.
            self._jobs_read_at = time.monotonic()
            try:
                async with asyncio.timeout(self.JOBS_TIMEOUT), self._db.connection() as conn:
                    counts = await job_queries.count_jobs_by_state(conn)
            except Exception as exc:  # noqa: BLE001 - metrics must not fail the scrape
                JOBS_SCRAPE_ERRORS.inc()
                logger.warning("metrics: job counts not read", extra={"error": type(exc).__name__})
                return
            for state in JobState:
                JOBS.labels(state.value).set(counts.get(state.value, 0))

    # ---- background refresh (several worker processes) ---------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="metrics sampler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.refresh()
            except Exception:  # the loop outlives any one failure
                logger.exception("metrics sampler failed")
