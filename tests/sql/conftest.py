"""Fixtures of the SQL tests: throw-away databases next to the run's shared test database."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import psycopg
import pytest
from psycopg import sql as pgsql

from app.migrate import apply_all
from tests.services import TestServices, with_database

MakeDatabase = Callable[[str], str]


@pytest.fixture(scope="module")
def make_database(test_services: TestServices) -> Iterator[MakeDatabase]:
    """Create empty databases on demand (``make_database("migrations")`` -> URL); all are
    dropped when the module's tests are done, whatever their outcome."""
    created: list[str] = []

    def make(purpose: str) -> str:
        name = f"app_test_{purpose}_{secrets.token_hex(4)}"
        with psycopg.connect(test_services.postgres_admin_url, autocommit=True) as admin:
            admin.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
        created.append(name)
        return with_database(test_services.postgres_admin_url, name)

    yield make
    with psycopg.connect(test_services.postgres_admin_url, autocommit=True) as admin:
        for name in created:
            admin.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)))


@asynccontextmanager
async def migrated_connection(
    make_database: MakeDatabase, purpose: str, *statements: str
) -> AsyncIterator[asyncpg.Connection[Any]]:
    """A connection to a new database with every migration applied and `statements` run (the
    seed of a plan test); the database goes with the module's others."""
    url = make_database(purpose)
    apply_all(url)
    connection: asyncpg.Connection[Any] = await asyncpg.connect(url)
    try:
        for statement in statements:
            await connection.execute(statement)
        yield connection
    finally:
        await connection.close()
