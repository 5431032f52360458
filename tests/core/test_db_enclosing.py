"""`Database.enclosing`: one transaction that the task's later queries join, committed or rolled
back as a whole; other tasks keep using their own pooled connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from app.core.config import Settings
from app.core.db import Database


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    db = Database(settings)
    await db.connect()
    async with db.connection() as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS enclosing_probe (n int PRIMARY KEY)")
        await conn.execute("TRUNCATE enclosing_probe")
    yield db
    async with db.connection() as conn:
        await conn.execute("DROP TABLE enclosing_probe")
    await db.close()


async def _count(db: Database) -> int:
    async with db.connection() as conn:
        return await conn.fetchval("SELECT count(*) FROM enclosing_probe")


async def test_inner_transactions_join_and_commit_together(database: Database) -> None:
    async with database.enclosing() as outer:
        async with database.transaction() as conn:
            assert conn is outer
            await conn.execute("INSERT INTO enclosing_probe VALUES (1)")
        async with database.connection() as conn:
            assert conn is outer
            assert await conn.fetchval("SELECT count(*) FROM enclosing_probe") == 1

        async def elsewhere() -> int:
            # Another task: its own connection, which cannot see the uncommitted row.
            async with database.connection() as conn:
                assert conn is not outer
                return await conn.fetchval("SELECT count(*) FROM enclosing_probe")

        assert await asyncio.create_task(elsewhere()) == 0
    assert await _count(database) == 1


async def test_an_exception_rolls_everything_back(database: Database) -> None:
    async def fail_after_inner_commit() -> None:
        async with database.enclosing():
            async with database.transaction() as conn:
                await conn.execute("INSERT INTO enclosing_probe VALUES (2)")
            raise RuntimeError("after the inner transaction committed")

    with pytest.raises(RuntimeError):
        await fail_after_inner_commit()
    assert await _count(database) == 0


async def test_a_failed_inner_transaction_is_a_savepoint(database: Database) -> None:
    async with database.enclosing():
        async with database.transaction() as conn:
            await conn.execute("INSERT INTO enclosing_probe VALUES (3)")
        with pytest.raises(asyncpg.UniqueViolationError):
            async with database.transaction() as conn:
                await conn.execute("INSERT INTO enclosing_probe VALUES (3)")
        async with database.transaction() as conn:
            await conn.execute("INSERT INTO enclosing_probe VALUES (4)")
    assert await _count(database) == 2


async def test_after_the_block_writes_autocommit_again(database: Database) -> None:
    async with database.enclosing():
        pass
    async with database.connection() as conn:
        await conn.execute("INSERT INTO enclosing_probe VALUES (5)")

    async def elsewhere() -> int:
        return await _count(database)

    assert await asyncio.create_task(elsewhere()) == 1
