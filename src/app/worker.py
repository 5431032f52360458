"""The background worker: ``python -m app.worker`` (``just worker``).

Runs the job queue (app.jobs.worker) with every job kind of the service bound to its handler.
Forks add their own job kinds and inbound event handlers without editing this file: each module
named in JOB_HANDLER_MODULES has a ``register(context: WorkerContext)`` function.
Stops on SIGTERM or SIGINT: no new claims, running jobs get WORKER_SHUTDOWN_GRACE_SECONDS.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from app.core.config import Settings, load_settings_or_exit
from app.core.db import Database
from app.core.logging import configure_logging, get_logger
from app.core.monitoring import AlertManager, ErrorMonitoring
from app.core.redis import create_redis
from app.idempotency.store import purge_expired_keys
from app.inbound.handlers import InboundHandlers, mark_inbound_event_failed, process_inbound_event
from app.inbound.retention import purge_old_inbound_events
from app.jobs.kinds import EMAIL_SEND, INBOUND_PROCESS, WEBHOOK_DELIVER, WEBHOOK_FAN_OUT
from app.jobs.registry import JobRegistry
from app.jobs.worker import Worker
from app.notifications.delivery import EmailDelivery, mail_settings
from app.notifications.mailer import mailer_from_settings
from app.observability.exporter import serve_in_thread
from app.observability.sampler import MetricsSampler
from app.outbound.delivery import WebhookDelivery

__all__ = ["WorkerContext", "build_worker", "main"]

logger = get_logger("app.worker")


@dataclass
class WorkerContext:
    """What handler modules get to register with: the settings, the pool and both registries."""

    settings: Settings
    db: Database
    jobs: JobRegistry = field(default_factory=JobRegistry)
    inbound: InboundHandlers = field(default_factory=InboundHandlers)
    # Run with every maintenance pass of the worker (about every WORKER_POLL_SECONDS).
    housekeeping: list[Callable[[], Awaitable[object]]] = field(default_factory=lambda: [])
    # Awaited once the worker has stopped: clients to close (HTTP pools, mail connections).
    closers: list[Callable[[], Awaitable[object]]] = field(default_factory=lambda: [])


def register_service_jobs(context: WorkerContext) -> None:
    """Every job kind of the service, and its housekeeping (retention purges)."""
    db = context.db
    context.jobs.register(
        INBOUND_PROCESS,
        functools.partial(process_inbound_event, db, context.inbound),
        on_dead=functools.partial(mark_inbound_event_failed, db),
    )
    mailer = mailer_from_settings(mail_settings(context.settings))
    context.jobs.register(EMAIL_SEND, EmailDelivery(db=db, mailer=mailer).send)
    context.closers.append(mailer.aclose)
    webhooks = WebhookDelivery(settings=context.settings, db=db)
    context.jobs.register(WEBHOOK_FAN_OUT, webhooks.fan_out)
    context.jobs.register(WEBHOOK_DELIVER, webhooks.deliver)
    context.housekeeping.append(webhooks.purge_old_events)
    context.housekeeping.append(functools.partial(purge_expired_keys, db))
    context.housekeeping.append(
        functools.partial(purge_old_inbound_events, db, context.settings.inbound_retention_days)
    )
    context.closers.append(webhooks.aclose)


def load_handler_modules(context: WorkerContext) -> None:
    for name in filter(None, (part.strip() for part in context.settings.job_handler_modules.split(","))):
        module = importlib.import_module(name)
        module.register(context)
        logger.info("job handler module loaded", extra={"handler_module": name})


def build_worker(
    settings: Settings, db: Database, *, name: str | None = None
) -> tuple[Worker, WorkerContext]:
    context = WorkerContext(settings=settings, db=db)
    register_service_jobs(context)
    load_handler_modules(context)
    worker = Worker(
        db=db,
        database_url=settings.database_url,
        registry=context.jobs,
        concurrency=settings.worker_concurrency,
        poll_seconds=settings.worker_poll_seconds,
        lease_seconds=settings.job_lease_seconds,
        shutdown_grace_seconds=settings.worker_shutdown_grace_seconds,
        finished_retention=timedelta(days=settings.job_retention_days),
        housekeeping=context.housekeeping,
        name=name,
    )
    return worker, context


async def run(settings: Settings) -> None:
    db = Database(settings)
    await db.connect()
    redis = create_redis(settings)
    alerts = AlertManager.configure(settings, redis)  # dead-letter growth, database outages
    sampler = _serve_metrics(settings, db)
    try:
        worker, context = build_worker(settings, db)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, worker.stop)
        try:
            await worker.run()
        finally:
            for close in context.closers:
                await close()
    finally:
        if sampler is not None:
            await sampler.stop()
        await AlertManager.drain()
        await alerts.aclose()
        await db.close()
        if redis is not None:
            await redis.aclose()
        ErrorMonitoring.flush()


def _serve_metrics(settings: Settings, db: Database) -> MetricsSampler | None:
    """This process's metrics on METRICS_PORT_WORKER (jobs run, their durations, queue depth)."""
    if settings.metrics_port_worker is None:
        return None
    serve_in_thread(settings.metrics_host, settings.metrics_port_worker, settings.metrics_token)
    sampler = MetricsSampler(db=db)
    sampler.start()
    logger.info("worker metrics port open", extra={"port": settings.metrics_port_worker})
    return sampler


def main() -> int:
    settings = load_settings_or_exit()
    configure_logging(settings.log_level)
    ErrorMonitoring.init_sentry(settings)
    asyncio.run(run(settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
