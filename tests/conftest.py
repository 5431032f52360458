"""Shared fixtures: a fresh PostgreSQL database per test run, real Redis, the app and clients."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.core.config import Settings, load_settings
from app.core.db import Database
from app.core.monitoring import ErrorMonitoring
from app.main import create_app
from tests.core.test_monitoring import DSN as SENTRY_TEST_DSN
from tests.core.test_monitoring import MemoryTransport, disable_sentry
from tests.outbound.receiver import Receiver
from tests.services import TestServices, fresh_database

# Records which named queries the run executes; a full run fails if one never ran (issue 8).
pytest_plugins = ["tests.query_coverage"]

# argon2 at production cost makes every register/login ~50 ms; tests use the cheapest
# parameters argon2-cffi accepts for the same algorithm. Production values are the defaults.
TEST_ENV = {
    "ENVIRONMENT": "test",
    "ARGON2_TIME_COST": "1",
    "ARGON2_MEMORY_KIB": "8192",
    "LOG_LEVEL": "WARNING",
    "SECRET_KEY": "test-secret-key-0123456789abcdef0123456789",
    # Every test talks from one client address: rate limits are off unless a test turns them on
    # (tests/core/test_rate_limit.py), and Redis keys are this run's own.
    "RATE_LIMIT_ENABLED": "false",
    "RATE_LIMIT_KEY_PREFIX": f"test-rl-{secrets.token_hex(4)}:",
    # Failed sign-ins do not make the suite sleep; tests of the throttle choose their own values.
    "LOGIN_DELAY_BASE_SECONDS": "0",
}


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    """The service's own Database (pool, aiosql) on the test database, as the app builds it."""
    database = Database(settings)
    await database.connect()
    yield database
    await database.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A local HTTP server that records what it receives (outbound webhooks, alerts)."""
    server = Receiver()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(scope="session")
def test_services() -> Iterator[TestServices]:
    services = TestServices()
    yield services
    services.close()


@pytest.fixture(scope="session")
async def database_url(test_services: TestServices) -> AsyncIterator[str]:
    """A database created for this run (and this xdist worker), migrated, dropped at the end."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    async with fresh_database(test_services.postgres_admin_url, f"app_test_{worker}") as url:
        yield url


@pytest.fixture(scope="session")
def make_settings(database_url: str, test_services: TestServices) -> Callable[..., Settings]:
    """Settings for the test database; keyword arguments override environment values."""

    def make(**overrides: str) -> Settings:
        env = {**TEST_ENV, "DATABASE_URL": database_url, "REDIS_URL": test_services.redis_url}
        env.update({key.upper(): value for key, value in overrides.items()})
        return load_settings(env)

    return make


@pytest.fixture(scope="session")
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture(scope="session")
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture(scope="session")
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="session")
async def db(database_url: str) -> AsyncIterator[asyncpg.Pool[Any]]:
    """Direct access to the test database, for assertions and setting up states."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
def sentry(make_settings: Callable[..., Settings]) -> Iterator[MemoryTransport]:
    """Sentry on, its events kept in memory (no network); off again after the test."""
    transport = MemoryTransport()
    assert ErrorMonitoring.init_sentry(make_settings(sentry_dsn=SENTRY_TEST_DSN), transport=transport)
    try:
        yield transport
    finally:
        disable_sentry()
