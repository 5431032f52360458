"""The slow-query log: named by aiosql query, never with parameters, cheap when queries are fast."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY

from app.core.db import sql
from app.core.query_log import (
    OTHER_QUERY,
    SlowQueryConnection,
    install_query_logger,
    query_name,
    slow_query_connection_class,
)
from tests.core.conftest import JsonLines

SECRET = "s3cret-parameter-value"


@pytest.fixture
def slow_log() -> Iterator[JsonLines]:
    handler = JsonLines()
    logger = logging.getLogger("app.slow_query")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def slow_lines(handler: JsonLines) -> list[dict[str, Any]]:
    return [json.loads(line) for line in handler.lines]


class EverythingIsSlow(SlowQueryConnection):
    __slots__ = ()
    threshold_seconds = 0.0


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool[Any]]:
    created = await asyncpg.create_pool(
        database_url, min_size=1, max_size=1, connection_class=EverythingIsSlow
    )
    yield created
    await created.close()


def test_query_names_come_from_aiosql() -> None:
    assert query_name(sql().jobs.count_dead_jobs.sql) == "jobs.count_dead_jobs"
    assert query_name("SELECT 1") == OTHER_QUERY


async def test_slow_named_query_is_logged_by_name_without_parameters(
    pool: asyncpg.Pool[Any], slow_log: JsonLines
) -> None:
    before = REGISTRY.get_sample_value("app_slow_queries_total", {"query": "jobs.get_job"}) or 0.0
    async with pool.acquire() as conn:
        await sql().jobs.get_job(conn, id="018f0000-0000-7000-8000-000000000000")
        await conn.fetchval("SELECT $1::text", SECRET)

    lines = slow_lines(slow_log)  # asyncpg's own type introspection may be among them
    (named,) = [line for line in lines if line["query"] == "jobs.get_job"]
    (other,) = [line for line in lines if line.get("statement") == "SELECT $1::text"]
    assert other["query"] == OTHER_QUERY
    assert named["message"] == "slow query"
    assert named["level"] == "WARNING"
    assert named["logger"] == "app.slow_query"
    assert isinstance(named["duration_ms"], float)
    assert "statement" not in named
    assert SECRET not in "\n".join(slow_log.lines)
    assert REGISTRY.get_sample_value("app_slow_queries_total", {"query": "jobs.get_job"}) == before + 1


async def test_fast_queries_leave_no_line(database_url: str, slow_log: JsonLines) -> None:
    conn = await asyncpg.connect(database_url, connection_class=slow_query_connection_class(200))
    try:
        assert await conn.fetchval("SELECT 1") == 1
        await conn.execute("SELECT 1")
        await conn.fetch("SELECT 1")
        await conn.fetchrow("SELECT 1")
    finally:
        await conn.close()

    assert slow_log.lines == []


async def test_a_statement_that_fails_is_timed_too(database_url: str, slow_log: JsonLines) -> None:
    conn = await asyncpg.connect(database_url, connection_class=slow_query_connection_class(50))
    try:
        await conn.execute("SET statement_timeout = 100")
        with pytest.raises(asyncpg.QueryCanceledError):
            await conn.execute("SELECT pg_sleep(1)")
    finally:
        await conn.close()

    (line,) = slow_lines(slow_log)
    assert line["statement"] == "SELECT pg_sleep(1)"
    assert line["duration_ms"] >= 50


def test_zero_turns_it_off() -> None:
    assert slow_query_connection_class(0) is asyncpg.Connection


async def test_install_query_logger_reports_through_asyncpg(database_url: str, slow_log: JsonLines) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        install_query_logger(conn, 20)
        await conn.fetchval("SELECT 1")
        await conn.execute("SELECT pg_sleep(0.05)")
        await conn.fetchval("SELECT 2")  # lets the logger's scheduled callback run
    finally:
        await conn.close()

    assert [line["statement"] for line in slow_lines(slow_log)] == ["SELECT pg_sleep(0.05)"]
