"""/admin: platform administrators list, count and retry jobs and inbound events."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.admin.cli import main as admin_cli
from tests.factories import PROBLEM_MEDIA_TYPE, User, signed_in_user

Client = AsyncTestClient[Litestar]


async def dead_job(db: asyncpg.Pool[Any], kind: str = "test.admin") -> uuid.UUID:
    job_id = uuid.uuid4()
    await db.execute(
        "INSERT INTO jobs (id, kind, payload, state, attempts, max_attempts, last_error, finished_at)"
        " VALUES ($1, $2, '{}', 'dead', 3, 3, 'boom', now())",
        job_id,
        kind,
    )
    return job_id


def problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    assert response.json()["code"] == code


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/admin/jobs?state=dead"),
        ("GET", "/admin/jobs/counts"),
        ("GET", f"/admin/jobs/{uuid.uuid4()}"),
        ("POST", f"/admin/jobs/{uuid.uuid4()}/retry"),
        ("GET", "/admin/inbound-events?state=failed"),
        ("GET", "/admin/inbound-events/counts"),
        ("POST", "/admin/inbound-events/acme/evt_1/retry"),
    ],
)
async def test_only_platform_admins_get_in(client: Client, method: str, path: str) -> None:
    problem(await client.request(method, path), 401, "AUTHENTICATION_REQUIRED")
    someone = await signed_in_user(client)
    problem(await client.request(method, path, headers=someone.headers), 403, "PERMISSION_DENIED")


async def test_an_org_owner_is_not_a_platform_admin(client: Client) -> None:
    owner = await signed_in_user(client)
    created = await client.post(
        "/orgs", json={"name": "Mine", "slug": f"o-{uuid.uuid4().hex[:8]}"}, headers=owner.headers
    )
    assert created.status_code == 201
    problem(await client.get("/admin/jobs/counts", headers=owner.headers), 403, "PERMISSION_DENIED")


async def test_counts_cover_every_state(client: Client, operator: User, db: asyncpg.Pool[Any]) -> None:
    await dead_job(db)
    response = await client.get("/admin/jobs/counts", headers=operator.headers)
    counts = response.json()["data"]["counts"]
    assert set(counts) == {"queued", "running", "succeeded", "dead"}
    assert counts["dead"] >= 1
    inbound = (await client.get("/admin/inbound-events/counts", headers=operator.headers)).json()["data"]
    assert set(inbound["counts"]) == {"received", "processed", "ignored", "failed"}


async def test_list_dead_jobs_of_a_kind_with_keyset_pages(
    client: Client, operator: User, db: asyncpg.Pool[Any]
) -> None:
    kind = f"test.k{uuid.uuid4().hex[:8]}"
    ids = [await dead_job(db, kind) for _ in range(5)]
    seen: list[str] = []
    cursor = ""
    while True:
        response = await client.get(
            f"/admin/jobs?state=dead&kind={kind}&limit=2{cursor}", headers=operator.headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        seen += [job["id"] for job in body["data"]]
        if not body["meta"]["has_more"]:
            break
        cursor = f"&cursor={body['meta']['next_cursor']}"
    assert sorted(seen) == sorted(str(i) for i in ids)
    assert seen == sorted(seen, reverse=True)  # newest first (uuid4 here: sorted by id)


async def test_retry_a_dead_job(client: Client, operator: User, db: asyncpg.Pool[Any]) -> None:
    job_id = await dead_job(db)
    response = await client.post(f"/admin/jobs/{job_id}/retry", headers=operator.headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["state"] == "queued"
    assert response.json()["data"]["attempts"] == 0
    problem(await client.post(f"/admin/jobs/{job_id}/retry", headers=operator.headers), 409, "CONFLICT")
    problem(
        await client.post(f"/admin/jobs/{uuid.uuid4()}/retry", headers=operator.headers), 404, "NOT_FOUND"
    )
    detail = await client.get(f"/admin/jobs/{job_id}", headers=operator.headers)
    assert detail.json()["data"]["state"] == "queued"


async def test_bad_state_or_cursor_is_422(client: Client, operator: User) -> None:
    problem(await client.get("/admin/jobs?state=lost", headers=operator.headers), 422, "VALIDATION_ERROR")
    problem(await client.get("/admin/jobs", headers=operator.headers), 422, "VALIDATION_ERROR")
    problem(
        await client.get("/admin/jobs?state=dead&cursor=zz", headers=operator.headers), 422, "INVALID_CURSOR"
    )


async def test_retry_a_failed_inbound_event(client: Client, operator: User, db: asyncpg.Pool[Any]) -> None:
    event_id = f"evt_{uuid.uuid4().hex}"
    await db.execute(
        "INSERT INTO inbound_events (source, event_id, id, event_type, body, state, last_error, processed_at)"
        " VALUES ('acme', $1, $2, 'x.y', '{}', 'failed', 'boom', now())",
        event_id,
        uuid.uuid4(),
    )
    listed = await client.get(
        "/admin/inbound-events?state=failed&source=acme&limit=100", headers=operator.headers
    )
    assert event_id in [event["event_id"] for event in listed.json()["data"]]

    response = await client.post(f"/admin/inbound-events/acme/{event_id}/retry", headers=operator.headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["state"] == "received"
    payload = json.dumps({"source": "acme", "event_id": event_id})
    assert (
        await db.fetchval(
            "SELECT count(*) FROM jobs"
            " WHERE kind = 'inbound.process' AND payload = $1::jsonb AND state = 'queued'",
            payload,
        )
        == 1
    )
    problem(
        await client.post(f"/admin/inbound-events/acme/{event_id}/retry", headers=operator.headers),
        409,
        "CONFLICT",
    )
    problem(
        await client.post("/admin/inbound-events/acme/nope/retry", headers=operator.headers), 404, "NOT_FOUND"
    )


def test_the_cli_grants_and_revokes(monkeypatch: pytest.MonkeyPatch, database_url: str, capsys: Any) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert admin_cli(["grant", "nobody@nowhere.example"]) == 1
    assert admin_cli(["revoke", "nobody@nowhere.example"]) == 1
    assert "no live user" in capsys.readouterr().err


async def test_the_cli_grant_opens_the_admin_routes(
    client: Client, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    user = await signed_in_user(client)
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert await asyncio.to_thread(admin_cli, ["grant", user.email.upper()]) == 0
    assert (await client.get("/admin/jobs/counts", headers=user.headers)).status_code == 200
    assert await asyncio.to_thread(admin_cli, ["revoke", user.email]) == 0
    problem(await client.get("/admin/jobs/counts", headers=user.headers), 403, "PERMISSION_DENIED")
