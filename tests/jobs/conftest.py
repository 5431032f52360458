"""Fixtures for the job queue: the service's Database on the test database, unique job kinds."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from app.core.config import Settings
from app.core.db import Database
from app.jobs.kinds import JobSpec


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings)
    await database.connect()
    yield database
    await database.close()


def unique_kind(**policy: float) -> JobSpec:
    """A job kind of its own for one test: workers of other tests never claim its jobs."""
    return JobSpec(f"test.k{secrets.token_hex(6)}", **policy)  # pyright: ignore[reportArgumentType]
