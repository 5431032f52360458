"""The worker loop: claim due jobs, run each under a timeout, record the outcome.

Guarantees (docs/EVENTS.md): a job runs at least once. It is claimed under a lease with
``FOR UPDATE SKIP LOCKED``, so concurrent workers never claim the same job. The worker renews
the leases of its running jobs every third of `lease_seconds` (a heartbeat), so a long job keeps
its lease; if the worker dies or hangs, the lease runs out and any worker takes the job again
(the old holder's late report is refused by its stale lease token). A NOTIFY on commit wakes
idle workers at once; they also poll every `poll_seconds`, so a lost notification (or a restarted
database) delays work but never loses it. On shutdown the worker stops claiming, lets running
jobs finish for `shutdown_grace_seconds`, then gives the rest back (released, the interrupted
attempt not counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import traceback
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from app.core.db import Database
from app.core.exceptions import ServiceUnavailableError
from app.core.logging import get_logger
from app.core.monitoring import AlertManager, measure
from app.jobs import queries
from app.jobs.registry import JobRegistry, PermanentJobError
from app.jobs.structs import ClaimedJob

__all__ = ["NOTIFY_CHANNEL", "Worker"]

logger = get_logger(__name__)
NOTIFY_CHANNEL = "app_jobs"
_MAX_ERROR_CHARS = 2000
# What a lost or overloaded database raises; the worker outlives all of them.
DATABASE_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    ServiceUnavailableError,
)


def _describe(exc: BaseException) -> str:
    text = "".join(traceback.format_exception_only(exc)).strip()
    return text[:_MAX_ERROR_CHARS]


class Worker:
    def __init__(
        self,
        *,
        db: Database,
        database_url: str,
        registry: JobRegistry,
        concurrency: int = 4,
        poll_seconds: float = 5.0,
        lease_seconds: float = 30.0,
        shutdown_grace_seconds: float = 20.0,
        finished_retention: timedelta = timedelta(days=7),
        housekeeping: Sequence[Callable[[], Awaitable[object]]] = (),
        name: str | None = None,
    ) -> None:
        self._db = db
        self._database_url = database_url
        self._registry = registry
        self._concurrency = concurrency
        self._poll_seconds = poll_seconds
        self._lease_seconds = lease_seconds
        self._grace = shutdown_grace_seconds
        self._retention = finished_retention
        self._housekeeping = tuple(housekeeping)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._running: dict[asyncio.Task[None], ClaimedJob] = {}
        self._listener: asyncpg.Connection[Any] | None = None
        self.completed = 0  # outcomes recorded by this worker (tests and logs)
        self._dead_seen: int | None = None  # dead jobs at the last maintenance pass

    # ---- lifecycle --------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to stop claiming and shut down (safe from a signal handler)."""
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        logger.info("worker started", extra={"worker": self.name, "kinds": self._registry.kinds})
        await self._listen()
        heartbeat = asyncio.create_task(self._heartbeat(), name="job lease heartbeat")
        last_maintenance = 0.0
        loop = asyncio.get_running_loop()
        try:
            while not self._stopping.is_set():
                if loop.time() - last_maintenance >= self._poll_seconds:
                    await self._maintain()
                    last_maintenance = loop.time()
                claimed = await self._claim()
                if claimed and len(self._running) < self._concurrency:
                    continue  # there may be more due work: claim again at once
                await self._idle()
        finally:
            await self._shutdown()
            heartbeat.cancel()
            logger.info("worker stopped", extra={"worker": self.name})

    async def _idle(self) -> None:
        """Wait for a notification, a free slot (when full), a stop, or the poll interval."""
        self._wake.clear()
        waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(self._wake.wait())}
        if len(self._running) >= self._concurrency:
            waiters |= set(self._running)
        try:
            await asyncio.wait(waiters, timeout=self._poll_seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                if waiter not in self._running:
                    waiter.cancel()

    async def _listen(self) -> None:
        """LISTEN on a dedicated connection (never a pooled one); without it, polling still works."""
        await self._close_listener()
        try:
            self._listener = await asyncpg.connect(self._database_url, timeout=10)
            await self._listener.add_listener(NOTIFY_CHANNEL, self._notified)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            self._listener = None
            logger.warning("worker cannot LISTEN; polling only", extra={"error": _describe(exc)})

    def _notified(self, *_: Any) -> None:
        self._wake.set()

    async def _close_listener(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close(timeout=2)
            self._listener = None

    # ---- claiming and running ---------------------------------------------------------------

    async def _claim(self) -> bool:
        free = self._concurrency - len(self._running)
        if free <= 0:
            return False
        try:
            async with self._db.connection() as conn:
                jobs = await queries.claim_jobs(
                    conn,
                    kinds=self._registry.kinds,
                    limit=free,
                    worker=self.name,
                    lease_seconds=self._lease_seconds,
                )
        except DATABASE_ERRORS as exc:  # down or busy: poll again later
            logger.warning("worker cannot claim jobs", extra={"error": _describe(exc)})
            if isinstance(exc, OSError | asyncpg.CannotConnectNowError):
                AlertManager.database_unreachable(exc)
            return False
        for job in jobs:
            task = asyncio.create_task(self._run_one(job), name=f"job {job.kind} {job.id}")
            self._running[task] = job
            task.add_done_callback(self._running.pop)
        return len(jobs) == free

    async def _run_one(self, job: ClaimedJob) -> None:
        entry = self._registry.get(job.kind)
        assert entry is not None, "claim_jobs claims only the kinds of this registry"
        log = {"job_id": str(job.id), "kind": job.kind, "attempt": job.attempts, "worker": self.name}
        try:
            with measure(f"job.{job.kind}", op="queue.process"):
                async with asyncio.timeout(entry.spec.timeout_seconds):
                    await entry.handler(job)
        except PermanentJobError as exc:
            await self._fail(job, _describe(exc), dead=True, retry_in=None)
            logger.error("job failed permanently", extra={**log, "error": _describe(exc)})
        except TimeoutError:
            error = f"timed out after {entry.spec.timeout_seconds:g} s"
            await self._failed_attempt(job, error, entry.spec.retry_delay(job.attempts), log)
        except asyncio.CancelledError:
            await self._release(job)
            raise
        except Exception as exc:  # noqa: BLE001 - any error of a handler is a failed attempt
            await self._failed_attempt(job, _describe(exc), entry.spec.retry_delay(job.attempts), log)
        else:
            await self._report(queries.complete_job, job)
            logger.info("job succeeded", extra=log)

    async def _failed_attempt(
        self, job: ClaimedJob, error: str, delay: timedelta, log: dict[str, Any]
    ) -> None:
        dead = job.attempts >= job.max_attempts
        await self._fail(job, error, dead=dead, retry_in=None if dead else delay)
        level = logger.error if dead else logger.warning
        level("job dead" if dead else "job failed; will retry", extra={**log, "error": error})

    async def _fail(self, job: ClaimedJob, error: str, *, dead: bool, retry_in: timedelta | None) -> None:
        retry_at = datetime.now(UTC) + (retry_in or timedelta(0))
        recorded = await self._report(queries.fail_job, job, error=error, dead=dead, retry_at=retry_at)
        if dead and recorded:
            await self._buried(job.kind, job.payload, error)

    async def _buried(self, kind: str, payload: dict[str, Any], error: str) -> None:
        """Run the kind's on-dead hook; its failure is logged (the dead job stays for admins)."""
        entry = self._registry.get(kind)
        if entry is None or entry.on_dead is None:
            return
        try:
            await entry.on_dead(payload, error)
        except Exception as exc:  # noqa: BLE001 - bookkeeping must not stop the worker
            logger.error("on-dead hook failed", extra={"kind": kind, "error": _describe(exc)})

    async def _release(self, job: ClaimedJob) -> None:
        await asyncio.shield(self._report(queries.release_job, job))

    async def _report(self, query: Any, job: ClaimedJob, **values: Any) -> bool:
        """Record an outcome. If that fails (database gone), the lease runs out and the job is
        taken again: at least once, never lost."""
        try:
            async with self._db.connection() as conn:
                accepted = await query(conn, id=job.id, lease_token=job.lease_token, **values)
        except DATABASE_ERRORS as exc:
            logger.warning(
                "job outcome not recorded; the job runs again after its lease",
                extra={"job_id": str(job.id), "error": _describe(exc)},
            )
            return False
        if not accepted:
            logger.warning("job outcome refused: the lease was lost", extra={"job_id": str(job.id)})
            return False
        self.completed += 1
        return True

    # ---- housekeeping -----------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self._lease_seconds / 3)
            held = list(self._running.values())
            if not held:
                continue
            try:
                async with self._db.connection() as conn:
                    await queries.extend_job_leases(
                        conn,
                        ids=[job.id for job in held],
                        lease_tokens=[job.lease_token for job in held],
                        lease_seconds=self._lease_seconds,
                    )
            except DATABASE_ERRORS as exc:
                logger.warning("job leases not renewed", extra={"error": _describe(exc)})

    async def _maintain(self) -> None:
        """Requeue expired leases, purge old finished jobs, and re-LISTEN if that link broke."""
        reclaimed: list[dict[str, Any]] = []
        try:
            async with self._db.connection() as conn:
                reclaimed = await queries.reclaim_expired_jobs(conn, limit=100)
                for row in reclaimed:
                    logger.warning(
                        "job lease expired", extra={"job_id": str(row["id"]), "state": row["state"]}
                    )
                await queries.delete_finished_jobs(conn, before=datetime.now(UTC) - self._retention)
                dead = await queries.count_dead_jobs(conn)
            self._check_dead_letters(dead)
            for task in self._housekeeping:
                await task()
        except DATABASE_ERRORS as exc:
            logger.warning("worker maintenance failed", extra={"error": _describe(exc)})
        for row in reclaimed:
            if row["state"] == "dead":
                await self._buried(row["kind"], row["payload"], row["last_error"] or "lease expired")
        if self._listener is None or self._listener.is_closed():
            await self._listen()

    def _check_dead_letters(self, dead: int) -> None:
        """Alert when jobs died since the last pass (each one also logged an error)."""
        previous, self._dead_seen = self._dead_seen, dead
        if previous is not None and dead > previous:
            AlertManager.fire(
                "Dead jobs increased",
                f"{dead - previous} more job(s) dead ({dead} in all); see /admin/jobs?state=dead.",
                "warning",
                {"dead": dead, "new": dead - previous, "worker": self.name},
            )

    async def _shutdown(self) -> None:
        await self._close_listener()
        if not self._running:
            return
        logger.info("worker finishing running jobs", extra={"running": len(self._running)})
        _, pending = await asyncio.wait(set(self._running), timeout=self._grace)
        for task in pending:
            task.cancel()  # each releases its job
        if pending:
            await asyncio.wait(pending, timeout=5)
