"""Fixtures of the schemathesis run: an app instance of its own (schemathesis drives it in-process
on its own event loop thread) and the data it fuzzes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from litestar import Litestar
from schemathesis.python import asgi

from app.core.config import Settings
from app.main import create_app
from tests.fuzz.settings import Current
from tests.fuzz.world import FuzzWorld, build_world, in_process
from tests.workers import drop_pending_webhook_jobs


@pytest.fixture(scope="module")
def fuzz_app(settings: Settings) -> Iterator[Litestar]:
    """Not the session `app`: schemathesis runs the app's lifespan (and so its pools) on an event
    loop of its own, and a pool belongs to the loop that opened it."""
    app = create_app(settings)
    yield app
    asgi.shutdown_lifespans()


@pytest.fixture(scope="module")
def fuzz_world(fuzz_app: Litestar, database_url: str) -> Iterator[FuzzWorld]:
    with in_process(fuzz_app) as http:
        world = build_world(http, database_url)
    Current.world = world
    yield world
    Current.world = None


@pytest.fixture(scope="package", autouse=True)
async def _no_webhook_jobs_left_behind(db: Any) -> AsyncIterator[None]:
    yield
    await drop_pending_webhook_jobs(db)
