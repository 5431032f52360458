"""The query-coverage hook (tests/query_coverage.py) sees named queries however they are run."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from app.core.db import sql
from tests import query_coverage


async def test_a_direct_call_is_recorded_with_no_route(db: asyncpg.Pool[Any]) -> None:
    async with db.acquire() as conn:
        await sql().admin.is_platform_admin(conn, user_id=uuid.uuid4())
    assert "admin.is_platform_admin" in query_coverage.executed_names()


async def test_sql_that_embeds_a_query_does_not_count(db: asyncpg.Pool[Any]) -> None:
    text = query_coverage.named_query_texts()["admin.is_platform_admin"]
    before = dict(query_coverage.executed_names())
    async with db.acquire() as conn:
        await conn.fetch(f"EXPLAIN {text}", uuid.uuid4())
    assert query_coverage.executed_names() == before


def test_every_named_query_has_its_text() -> None:
    texts = query_coverage.named_query_texts()
    assert len(texts) >= 100
    assert all("$" in text or ":" not in text for text in texts.values())
    assert query_coverage.route_of({"method": "GET", "path_template": "/x/{id}"}) == "GET /x/{id}"
    assert query_coverage.route_of({"method": "GET"}) is None
