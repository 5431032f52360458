"""An organization always keeps at least one owner, also when requests race (lock_org)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.factories import Client, User, expect_data, signed_in_user, unique


async def org_with_two_owners(client: Client, db: Any) -> tuple[str, User, User]:
    first = await signed_in_user(client)
    second = await signed_in_user(client)
    org = expect_data(
        await client.post(
            "/orgs",
            json={"name": "Race", "slug": unique("r")},
            headers={"Authorization": f"Bearer {first.access_token}"},
        ),
        201,
    )
    await db.execute(
        "INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, 'owner')", org["id"], second.id
    )
    return org["id"], first, second


def auth(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {user.access_token}"}


async def owners(db: Any, org_id: str) -> int:
    return await db.fetchval("SELECT count(*) FROM org_members WHERE org_id = $1 AND role = 'owner'", org_id)


async def test_owners_demoting_each_other_at_once_leave_one_owner(client: Client, db: Any) -> None:
    for _ in range(5):
        org_id, first, second = await org_with_two_owners(client, db)

        answers = await asyncio.gather(
            client.patch(f"/orgs/{org_id}/members/{second.id}", json={"role": "admin"}, headers=auth(first)),
            client.patch(f"/orgs/{org_id}/members/{first.id}", json={"role": "admin"}, headers=auth(second)),
        )

        statuses = sorted(response.status_code for response in answers)
        assert statuses in ([200, 409], [200, 403]), [r.text for r in answers]
        assert await owners(db, org_id) == 1


async def test_both_owners_leaving_at_once_leave_one_owner(client: Client, db: Any) -> None:
    for _ in range(5):
        org_id, first, second = await org_with_two_owners(client, db)

        answers = await asyncio.gather(
            client.post(f"/orgs/{org_id}/leave", headers=auth(first)),
            client.post(f"/orgs/{org_id}/leave", headers=auth(second)),
        )

        assert sorted(response.status_code for response in answers) == [204, 409]
        assert await owners(db, org_id) == 1


async def test_the_last_owner_cannot_leave_or_be_demoted(client: Client, db: Any) -> None:
    org_id, first, second = await org_with_two_owners(client, db)
    await db.execute("DELETE FROM org_members WHERE org_id = $1 AND user_id = $2", org_id, second.id)

    leave = await client.post(f"/orgs/{org_id}/leave", headers=auth(first))
    demote = await client.patch(
        f"/orgs/{org_id}/members/{first.id}", json={"role": "admin"}, headers=auth(first)
    )

    assert (leave.status_code, leave.json()["code"]) == (409, "LAST_OWNER")
    assert (demote.status_code, demote.json()["code"]) == (409, "LAST_OWNER")
    assert await owners(db, org_id) == 1
