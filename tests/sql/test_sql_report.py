"""`just sql-report` (app.sql_report) runs on the test database and covers every named query."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar import Litestar

from app.sql_report import NamedQuery, explain, named_queries, route_entries, static_usage, write_report

QUERIES = named_queries()


def test_every_sql_file_query_is_listed() -> None:
    names = {query.name for query in QUERIES}
    assert len(names) == len(QUERIES) >= 100
    assert "items.get_item" in names
    assert all(query.sql for query in QUERIES)


async def test_the_report_has_a_section_for_every_query(
    database_url: str, app: Litestar, db: asyncpg.Pool[Any], tmp_path: Path
) -> None:
    before = await db.fetchval("SELECT count(*) FROM items")
    output = tmp_path / "QUERIES.md"
    page = await write_report(database_url, output, app=app)
    assert output.read_text() == page
    sections = re.findall(r"^### (\S+)$", page, re.MULTILINE)
    assert sections == [query.name for query in QUERIES]
    for query in QUERIES:
        body = page.split(f"\n### {query.name}\n", 1)[1].split("\n### ", 1)[0]
        assert f"[`{query.path.as_posix()}`]" in body
        assert "- Indexes used: " in body or "- Plan: " in body, query.name
    # Plans only: the inserts were planned, not run.
    assert await db.fetchval("SELECT count(*) FROM items") == before
    assert "items_pkey" in page.split("\n### items.get_item\n", 1)[1].split("\n### ", 1)[0]


def test_endpoints_come_from_the_static_scan(app: Litestar) -> None:
    usage = static_usage(QUERIES, route_entries(app))
    get_item = usage["items.get_item"]
    assert "app.items.queries:get_item" in get_item.wrappers
    assert "GET /orgs/{org_id}/items/{item_id}" in get_item.endpoints
    # Reached through the org-route dependency, not the handler's own code.
    assert (
        "GET /orgs/{org_id}/items" in usage["orgs.get_membership"].endpoints
        or usage["orgs.get_membership"].entry_points
    )
    # The worker's queries have no endpoint but an entry point.
    assert usage["jobs.claim_jobs"].endpoints == []
    assert usage["jobs.claim_jobs"].entry_points
    # A dict's `.update(...)` is not taken for the one app method named `update`
    # (WebhookEndpointsService.update): creating an item never reads a webhook endpoint.
    assert usage["outbound.get_webhook_endpoint"].endpoints == [
        "GET /orgs/{org_id}/webhook-endpoints/{endpoint_id}",
        "PATCH /orgs/{org_id}/webhook-endpoints/{endpoint_id}",
    ]
    assert not usage["outbound.get_webhook_endpoint"].entry_points


async def test_a_query_whose_parameter_types_cannot_be_inferred_is_reported(
    db: asyncpg.Pool[Any],
) -> None:
    probe = NamedQuery(
        name="probe.untyped",
        path=Path("sql/probe/untyped.sql"),
        suffix="$",
        comment="",
        doc="",
        sql="SELECT 1 WHERE $1 IS NULL",
    )
    async with db.acquire() as conn:
        plan = await explain(conn, probe)
        left = await conn.fetchval(
            "SELECT count(*) FROM pg_prepared_statements WHERE name = 'sql_report_probe'"
        )
    assert plan.text is None
    assert plan.error is not None
    assert "not inferable" in plan.error
    assert left == 0


@pytest.mark.parametrize("name", ["items.insert_item", "items.soft_delete_item"])
async def test_writes_are_planned_never_run(db: asyncpg.Pool[Any], name: str) -> None:
    query = next(q for q in QUERIES if q.name == name)
    async with db.acquire() as conn:
        plan = await explain(conn, query)
    assert plan.error is None, plan.error
    assert plan.text
