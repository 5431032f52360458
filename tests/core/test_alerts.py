"""AlertManager: Sentry plus a Slack-compatible webhook, de-duplicated per title and window."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from app.core.config import Settings
from app.core.monitoring import AlertManager
from app.jobs.registry import JobRegistry
from app.jobs.worker import Worker
from tests import services
from tests.core.test_monitoring import MemoryTransport
from tests.outbound.receiver import Receiver


def alerts_counted(title: str, severity: str, outcome: str) -> float:
    found = REGISTRY.get_sample_value(
        "app_alerts_total", {"title": title, "severity": severity, "outcome": outcome}
    )
    return found or 0.0


def unique_title(prefix: str = "Test alert") -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


@pytest.fixture
async def redis(test_services: services.TestServices) -> AsyncIterator[Redis]:
    client = Redis.from_url(test_services.redis_url)  # pyright: ignore[reportUnknownMemberType]
    yield client
    await client.aclose()


@pytest.fixture
async def managers() -> AsyncIterator[list[AlertManager]]:
    made: list[AlertManager] = []
    yield made
    for manager in made:
        await manager.aclose()


def manager(made: list[AlertManager], **options: Any) -> AlertManager:
    created = AlertManager(environment="test", **options)
    made.append(created)
    return created


async def test_alert_posts_slack_json_and_a_sentry_message(
    receiver: Receiver, sentry: MemoryTransport, managers: list[AlertManager]
) -> None:
    alerts = manager(managers, webhook_url=receiver.url)
    title = unique_title()

    sent = await alerts.send(title, "the pool ran dry", "critical", {"pool": "api", "password": "hunter2"})

    assert sent is True
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request.headers["content-type"] == "application/json"
    body = json.loads(request.body)
    assert body["text"] == f"[CRITICAL] {title}: the pool ran dry"
    attachment = body["attachments"][0]
    assert attachment["title"] == title
    assert attachment["text"] == "the pool ran dry"
    fields = {field["title"]: field["value"] for field in attachment["fields"]}
    assert fields["pool"] == "api"
    assert fields["environment"] == "test"
    assert "hunter2" not in request.body.decode()  # context is scrubbed
    events = sentry.events()
    assert [(event["message"], event["level"]) for event in events] == [
        (f"{title}: the pool ran dry", "fatal")
    ]
    assert alerts_counted(title, "critical", "sent") == 1


@pytest.mark.parametrize(("severity", "level"), [("warning", "warning"), ("info", "info")])
async def test_severity_maps_to_the_sentry_level(
    sentry: MemoryTransport, managers: list[AlertManager], severity: Any, level: str
) -> None:
    await manager(managers).send(unique_title(), "m", severity)

    assert [event["level"] for event in sentry.events()] == [level]


async def test_same_title_is_sent_once_per_window(receiver: Receiver, managers: list[AlertManager]) -> None:
    alerts = manager(managers, webhook_url=receiver.url, dedupe_seconds=60)
    title, other = unique_title(), unique_title()

    results = [await alerts.send(title, f"attempt {n}", "warning") for n in range(3)]
    assert await alerts.send(other, "another alert", "warning") is True

    assert results == [True, False, False]
    assert [json.loads(r.body)["attachments"][0]["title"] for r in receiver.requests] == [title, other]
    assert alerts_counted(title, "warning", "sent") == 1
    assert alerts_counted(title, "warning", "suppressed") == 2


async def test_window_of_zero_sends_every_alert(receiver: Receiver, managers: list[AlertManager]) -> None:
    alerts = manager(managers, webhook_url=receiver.url, dedupe_seconds=0)
    title = unique_title()

    assert [await alerts.send(title, "m") for _ in range(2)] == [True, True]
    assert len(receiver.requests) == 2


async def test_two_processes_sharing_redis_send_once(
    receiver: Receiver, redis: Redis, managers: list[AlertManager]
) -> None:
    first = manager(managers, webhook_url=receiver.url, redis=redis, dedupe_seconds=60)
    second = manager(managers, webhook_url=receiver.url, redis=redis, dedupe_seconds=60)
    title = unique_title()

    assert await first.send(title, "from worker 1") is True
    assert await second.send(title, "from worker 2") is False

    assert len(receiver.requests) == 1
    key = "app:alert:" + hashlib.sha256(title.encode()).hexdigest()[:32]
    assert 0 < await redis.ttl(key) <= 60


async def test_without_redis_each_process_dedupes_alone(
    receiver: Receiver, managers: list[AlertManager]
) -> None:
    broken = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)  # pyright: ignore[reportUnknownMemberType]
    try:
        alerts = manager(managers, webhook_url=receiver.url, redis=broken, dedupe_seconds=60)
        title = unique_title()

        assert await alerts.send(title, "Redis is down") is True
        assert await alerts.send(title, "Redis is down") is False
    finally:
        await broken.aclose()
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("failure", ["refused", "status-500"])
async def test_webhook_failure_never_reaches_the_caller(
    receiver: Receiver, managers: list[AlertManager], failure: str
) -> None:
    if failure == "refused":
        url = "http://127.0.0.1:1/hook"
    else:
        receiver.statuses.append(500)
        url = receiver.url
    alerts = manager(managers, webhook_url=url, timeout_seconds=2)

    assert await alerts.send(unique_title(), "still fine", "critical") is True


async def test_fire_sends_in_the_background_and_hooks_use_the_installed_manager(
    receiver: Receiver, make_settings: Callable[..., Settings]
) -> None:
    installed = AlertManager.configure(
        make_settings(alert_webhook_url=receiver.url, alert_dedupe_seconds="0")
    )
    try:
        before = REGISTRY.get_sample_value("app_db_pool_acquire_timeouts_total") or 0.0

        AlertManager.pool_exhausted()
        AlertManager.database_unreachable(ConnectionRefusedError())
        await AlertManager.drain()

        titles = sorted(json.loads(r.body)["attachments"][0]["title"] for r in receiver.requests)
        assert titles == ["Database pool exhausted", "Database unreachable"]
        assert REGISTRY.get_sample_value("app_db_pool_acquire_timeouts_total") == before + 1
    finally:
        await installed.aclose()
        AlertManager.configure(make_settings())


async def test_worker_alerts_when_dead_jobs_grow(
    receiver: Receiver, make_settings: Callable[..., Settings], settings: Settings
) -> None:
    installed = AlertManager.configure(
        make_settings(alert_webhook_url=receiver.url, alert_dedupe_seconds="0")
    )
    worker = Worker(db=None, database_url=settings.database_url, registry=JobRegistry(), name="w-1")  # pyright: ignore[reportArgumentType]
    try:
        worker._check_dead_letters(5)
        worker._check_dead_letters(5)
        worker._check_dead_letters(7)
        await AlertManager.drain()
    finally:
        await installed.aclose()
        AlertManager.configure(make_settings())

    assert len(receiver.requests) == 1
    body = json.loads(receiver.requests[0].body)
    assert body["attachments"][0]["title"] == "Dead jobs increased"
    fields = {field["title"]: field["value"] for field in body["attachments"][0]["fields"]}
    assert (fields["dead"], fields["new"]) == ("7", "2")


async def test_an_undelivered_alert_is_not_muted(
    receiver: Receiver, redis: Redis, managers: list[AlertManager]
) -> None:
    """The webhook failed: the next occurrence, in any process, tries again instead of being
    suppressed for the whole window."""
    first = manager(managers, webhook_url=receiver.url, redis=redis, dedupe_seconds=60)
    second = manager(managers, webhook_url=receiver.url, redis=redis, dedupe_seconds=60)
    title = unique_title()
    receiver.statuses.append(503)

    assert await first.send(title, "the webhook is down") is True
    assert await second.send(title, "again") is True
    assert await first.send(title, "and again") is False  # delivered by `second`: muted now
    texts = [json.loads(request.body)["text"] for request in receiver.requests]
    assert [text.rsplit(": ", 1)[-1] for text in texts] == ["the webhook is down", "again"]
    assert len(receiver.requests) == 2
