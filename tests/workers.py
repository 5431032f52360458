"""The service's worker (app.worker.build_worker) running in the test's event loop."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from app.core.config import Settings
from app.core.db import Database
from app.worker import WorkerContext, build_worker


@asynccontextmanager
async def service_worker(
    settings: Settings, *, name: str | None = None, setup: Callable[[WorkerContext], None] | None = None
) -> AsyncIterator[WorkerContext]:
    """Every job kind of the service, plus what `setup` registers; stopped (gracefully) on exit."""
    database = Database(settings)
    await database.connect()
    worker, context = build_worker(settings, database, name=name or f"test-{uuid.uuid4().hex[:6]}")
    if setup is not None:
        setup(context)
    task = asyncio.create_task(worker.run())
    try:
        yield context
    finally:
        worker.stop()
        await asyncio.wait_for(task, 30)
        for close in context.closers:
            await close()
        await database.close()


async def drop_pending_webhook_jobs(db: Any) -> int:
    """Delete the outbound-webhook jobs nobody ran: packages that write through orgs with webhook
    endpoints (fuzzing, abuse tests) queue deliveries to hosts that do not exist, which the job
    tests' workers, sharing the run's database, would otherwise pick up and retry for minutes."""
    deleted = await db.execute(
        "DELETE FROM jobs WHERE kind LIKE 'webhooks.%' AND state IN ('queued', 'running')"
    )
    return int(deleted.split()[-1])
