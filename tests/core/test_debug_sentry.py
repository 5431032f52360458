"""GET /debug/sentry-test: platform admins only, and only when DEBUG_SENTRY_TEST_ENABLED=true."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from app.core.config import Settings
from app.main import create_app
from tests.core.test_monitoring import DSN, MemoryTransport, transport
from tests.factories import Client, signed_in_user

PATH = "/debug/sentry-test"
__all__ = ["transport"]  # the fixture, shared with test_monitoring


@pytest.fixture
async def debug_client(
    make_settings: Callable[..., Settings], transport: MemoryTransport
) -> AsyncIterator[Client]:
    app = create_app(
        make_settings(sentry_dsn=DSN, debug_sentry_test_enabled="true"), sentry_transport=transport
    )
    async with AsyncTestClient(app) as test_client:
        yield test_client


async def test_admin_gets_event_ids_and_both_events_reach_sentry(
    debug_client: Client, transport: MemoryTransport, db: asyncpg.Pool[Any]
) -> None:
    admin = await signed_in_user(debug_client)
    await db.execute(
        "INSERT INTO platform_admins (user_id, granted_by) VALUES ($1, 'test')", uuid.UUID(admin.id)
    )

    response = await debug_client.get(PATH, headers=admin.headers)

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["sentry_enabled"] is True
    events = {event["event_id"]: event for event in transport.events()}
    assert set(events) == {data["message_event_id"], data["exception_event_id"]}
    message = events[data["message_event_id"]]
    assert message["message"] == "Sentry test message from /debug/sentry-test"
    exception = events[data["exception_event_id"]]
    assert exception["exception"]["values"][-1]["type"] == "SentryTestError"
    assert exception["user"] == {"id": admin.id}


async def test_other_callers_are_refused(debug_client: Client, transport: MemoryTransport) -> None:
    user = await signed_in_user(debug_client)

    assert (await debug_client.get(PATH)).status_code == 401
    assert (await debug_client.get(PATH, headers=user.headers)).status_code == 403
    assert transport.events() == []


async def test_without_the_setting_the_route_does_not_exist(client: Client) -> None:
    response = await client.get(PATH)

    assert response.status_code == 404
