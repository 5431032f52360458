"""The pool's observability hooks, through `Database` as the app builds it: slow statements are
logged (never with parameters), and an exhausted pool counts a timeout and answers 503."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from app.core.config import Settings
from app.core.db import Database
from app.core.exceptions import ServiceUnavailableError
from app.core.metrics import DB_POOL_ACQUIRE_TIMEOUTS


async def test_the_apps_pool_logs_slow_statements(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(make_settings(slow_query_ms="1"))
    await db.connect()
    try:
        async with db.connection() as conn:
            await conn.execute("SELECT pg_sleep(0.01)")  # not a named query
    finally:
        await db.close()
    slow = [record for record in caplog.records if record.name == "app.slow_query"]
    assert any(getattr(record, "query", None) == "<other>" for record in slow), slow
    assert "SELECT pg_sleep" in str([getattr(record, "statement", "") for record in slow])


async def test_an_exhausted_pool_counts_a_timeout_and_answers_503(
    make_settings: Callable[..., Settings],
) -> None:
    db = Database(make_settings(db_pool_min_size="1", db_pool_max_size="1", db_pool_acquire_timeout="0.05"))
    await db.connect()
    before = DB_POOL_ACQUIRE_TIMEOUTS._value.get()  # pyright: ignore[reportPrivateUsage]
    try:
        async with db.connection():
            with pytest.raises(ServiceUnavailableError):
                async with db.connection():
                    pass
    finally:
        await db.close()
    assert DB_POOL_ACQUIRE_TIMEOUTS._value.get() == before + 1  # pyright: ignore[reportPrivateUsage]


@pytest.fixture(autouse=True)
def _warnings(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="app.slow_query")
