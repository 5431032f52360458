"""/admin lists without the optional filter: every kind of job (jobs.list_jobs) and inbound events
from every source (inbound.list_inbound_events), newest first, in keyset pages."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import User

Client = AsyncTestClient[Litestar]


async def pages(client: Client, operator: User, path: str) -> list[dict[str, Any]]:
    """Every row of an admin list, following its cursor, two rows a page."""
    seen: list[dict[str, Any]] = []
    cursor = ""
    while True:
        response = await client.get(f"{path}&limit=2{cursor}", headers=operator.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["data"]) <= 2
        seen += body["data"]
        if not body["meta"]["has_more"]:
            return seen
        cursor = f"&cursor={body['meta']['next_cursor']}"


async def test_jobs_of_every_kind(client: Client, operator: User, db: asyncpg.Pool[Any]) -> None:
    tag = uuid.uuid4().hex[:8]
    mine = {uuid.uuid4(): f"test.a{tag}" for _ in range(2)} | {uuid.uuid4(): f"test.b{tag}" for _ in range(2)}
    for job_id, kind in mine.items():
        await db.execute(
            "INSERT INTO jobs (id, kind, payload, state, attempts, max_attempts, last_error, finished_at)"
            " VALUES ($1, $2, '{}', 'dead', 3, 3, 'boom', now())",
            job_id,
            kind,
        )
    listed = await pages(client, operator, "/admin/jobs?state=dead")
    ids = [job["id"] for job in listed]
    assert {str(job_id) for job_id in mine} <= set(ids)
    assert ids == sorted(ids, reverse=True)  # newest first (by id)
    assert {job["state"] for job in listed} == {"dead"}
    assert {job["kind"] for job in listed if uuid.UUID(job["id"]) in mine} == set(mine.values())


async def test_inbound_events_from_every_source(
    client: Client, operator: User, db: asyncpg.Pool[Any]
) -> None:
    mine: dict[str, str] = {}
    for source in ("acme", "globex", "acme"):
        event_id = f"evt_{uuid.uuid4().hex}"
        mine[event_id] = source
        await db.execute(
            "INSERT INTO inbound_events (source, event_id, id, event_type, body, state, last_error,"
            " processed_at) VALUES ($1, $2, $3, 'x.y', '{}', 'failed', 'boom', now())",
            source,
            event_id,
            uuid.uuid4(),
        )
    listed = await pages(client, operator, "/admin/inbound-events?state=failed")
    ids = [event["id"] for event in listed]
    assert ids == sorted(ids, reverse=True)
    found = {event["event_id"]: event["source"] for event in listed if event["event_id"] in mine}
    assert found == mine
    assert {event["state"] for event in listed} == {"failed"}
    assert all("body" not in event for event in listed)  # the list leaves the raw bodies out
