"""The audit log: written with the change, filtered and paginated, and append-only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from tests.factories import Client, User, expect_data, expect_problem, signed_in_user, unique


def auth(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {user.access_token}"}


@pytest.fixture(scope="module")
async def busy_org(client: Client) -> tuple[str, User, str]:
    """An org with a rename, an invitation and a key created and revoked: (org_id, owner, key_id)."""
    owner = await signed_in_user(client)
    org = expect_data(
        await client.post("/orgs", json={"name": "Audit", "slug": unique("a")}, headers=auth(owner)), 201
    )
    org_id = org["id"]
    expect_data(await client.patch(f"/orgs/{org_id}", json={"name": "Audited"}, headers=auth(owner)))
    expect_data(
        await client.post(
            f"/orgs/{org_id}/invitations", json={"email": f"{unique('x')}@example.com"}, headers=auth(owner)
        ),
        201,
    )
    key = expect_data(
        await client.post(f"/orgs/{org_id}/api-keys", json={"name": "k"}, headers=auth(owner)), 201
    )
    assert (
        await client.delete(f"/orgs/{org_id}/api-keys/{key['id']}", headers=auth(owner))
    ).status_code == 204
    return org_id, owner, key["id"]


async def events(client: Client, org_id: str, owner: User, query: str = "") -> list[dict[str, Any]]:
    return expect_data(await client.get(f"/orgs/{org_id}/audit{query}", headers=auth(owner)))


async def test_changes_are_recorded_newest_first(client: Client, busy_org: tuple[str, User, str]) -> None:
    org_id, owner, key_id = busy_org

    found = await events(client, org_id, owner)

    assert [event["action"] for event in found] == [
        "api_key.revoked",
        "api_key.created",
        "invitation.created",
        "org.updated",
        "org.created",
    ]
    assert all(event["actor_type"] == "user" and event["actor_id"] == owner.id for event in found)
    assert found[0]["target_id"] == key_id
    assert found[3]["before"] == {"name": "Audit"}
    assert found[3]["after"] == {"name": "Audited"}


async def test_each_event_carries_the_request_id(client: Client, busy_org: tuple[str, User, str]) -> None:
    org_id, owner, _ = busy_org
    response = await client.patch(f"/orgs/{org_id}", json={"name": "Again"}, headers=auth(owner))
    expect_data(response)

    newest = (await events(client, org_id, owner, "?limit=1"))[0]

    assert (newest["action"], newest["request_id"]) == ("org.updated", response.headers["x-request-id"])


async def test_filters_and_pages(client: Client, busy_org: tuple[str, User, str]) -> None:
    org_id, owner, _ = busy_org
    everything = await events(client, org_id, owner, "?limit=100")

    by_action = await events(client, org_id, owner, "?action=api_key.created")
    by_actor = await events(client, org_id, owner, f"?actor_id={owner.id}&action=org.created")
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    none_yet = await events(client, org_id, owner, f"?since={future}")
    past = await events(client, org_id, owner, f"?until={future}")
    walked: list[str] = []
    cursor = ""
    while True:
        response = await client.get(f"/orgs/{org_id}/audit?limit=2{cursor}", headers=auth(owner))
        walked += [event["id"] for event in expect_data(response)]
        next_cursor = response.json()["meta"]["next_cursor"]
        if next_cursor is None:
            break
        cursor = f"&cursor={next_cursor}"

    assert [event["action"] for event in by_action] == ["api_key.created"]
    assert [event["action"] for event in by_actor] == ["org.created"]
    assert none_yet == []
    assert [event["id"] for event in past] == [event["id"] for event in everything][:20]
    assert walked == [event["id"] for event in everything]


@pytest.mark.parametrize(
    "query", ["?action=DROP TABLE", "?since=yesterday", "?cursor=not-a-cursor", "?limit=0"]
)
async def test_bad_filters_are_422(client: Client, busy_org: tuple[str, User, str], query: str) -> None:
    org_id, owner, _ = busy_org

    response = await client.get(f"/orgs/{org_id}/audit{query}", headers=auth(owner))

    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_refused_change_writes_nothing(client: Client, busy_org: tuple[str, User, str]) -> None:
    org_id, owner, _ = busy_org
    before = await events(client, org_id, owner, "?limit=100")

    expect_problem(await client.post(f"/orgs/{org_id}/leave", headers=auth(owner)), 409, "LAST_OWNER")

    assert await events(client, org_id, owner, "?limit=100") == before


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET action = 'org.created' WHERE org_id = $1",
        "DELETE FROM audit_events WHERE org_id = $1",
    ],
)
async def test_the_table_is_append_only(db: Any, busy_org: tuple[str, User, str], statement: str) -> None:
    org_id, _, _ = busy_org
    count = await db.fetchval("SELECT count(*) FROM audit_events WHERE org_id = $1", org_id)

    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await db.execute(statement, org_id)

    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE org_id = $1", org_id) == count


async def test_truncate_is_refused(db: Any) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await db.execute("TRUNCATE audit_events")
