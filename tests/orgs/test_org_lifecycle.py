"""Organizations: create, list, read, rename, transfer ownership, delete."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import Client, User, expect_data, expect_problem, signed_in_user, unique


def auth(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {user.access_token}"}


def slug() -> str:
    return unique("s").lower().replace("_", "-")[:40]


async def create(client: Client, owner: User, org_slug: str | None = None) -> dict[str, Any]:
    response = await client.post(
        "/orgs", json={"name": "Org", "slug": org_slug or slug()}, headers=auth(owner)
    )
    return expect_data(response, 201)


async def test_the_creator_is_the_owner(client: Client) -> None:
    owner = await signed_in_user(client)

    org = await create(client, owner)

    assert org["role"] == "owner"
    assert expect_data(await client.get(f"/orgs/{org['id']}", headers=auth(owner)))["name"] == "Org"


@pytest.mark.parametrize("bad", ["ab", "-abc", "abc-", "ABC", "a_b_c", "x" * 41, "abc\n"])
async def test_a_bad_slug_is_422(client: Client, bad: str) -> None:
    owner = await signed_in_user(client)

    response = await client.post("/orgs", json={"name": "Org", "slug": bad}, headers=auth(owner))

    expect_problem(response, 422, "VALIDATION_ERROR", path="$.slug")


async def test_a_taken_slug_is_409_until_the_org_is_deleted(client: Client) -> None:
    owner = await signed_in_user(client)
    taken = slug()
    org = await create(client, owner, taken)

    again = await client.post("/orgs", json={"name": "Copy", "slug": taken}, headers=auth(owner))
    expect_problem(again, 409, "SLUG_TAKEN", path="$.slug")
    assert (await client.delete(f"/orgs/{org['id']}", headers=auth(owner))).status_code == 204

    await create(client, owner, taken)


async def test_renaming_to_a_taken_slug_is_409(client: Client) -> None:
    owner = await signed_in_user(client)
    first, second = await create(client, owner), await create(client, owner)

    response = await client.patch(f"/orgs/{second['id']}", json={"slug": first["slug"]}, headers=auth(owner))

    expect_problem(response, 409, "SLUG_TAKEN")


async def test_the_org_list_pages_through_the_callers_orgs_only(client: Client) -> None:
    owner = await signed_in_user(client)
    other = await signed_in_user(client)
    created = [(await create(client, owner))["id"] for _ in range(5)]
    await create(client, other)
    seen: list[str] = []
    cursor = ""
    while True:
        response = await client.get(f"/orgs?limit=2{cursor}", headers=auth(owner))
        seen += [org["id"] for org in expect_data(response)]
        if response.json()["meta"]["next_cursor"] is None:
            break
        cursor = f"&cursor={response.json()['meta']['next_cursor']}"

    assert seen == sorted(created)


async def test_a_deleted_org_is_gone_for_everyone(client: Client) -> None:
    owner = await signed_in_user(client)
    org = await create(client, owner)

    assert (await client.delete(f"/orgs/{org['id']}", headers=auth(owner))).status_code == 204

    expect_problem(await client.get(f"/orgs/{org['id']}", headers=auth(owner)), 404, "NOT_FOUND")
    assert expect_data(await client.get("/orgs", headers=auth(owner))) == []


async def test_transfer_makes_the_member_owner_and_the_caller_admin(client: Client, db: Any) -> None:
    owner = await signed_in_user(client)
    heir = await signed_in_user(client)
    org = await create(client, owner)
    await db.execute(
        "INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, 'member')", org["id"], heir.id
    )

    response = await client.post(
        f"/orgs/{org['id']}/transfer-ownership", json={"user_id": heir.id}, headers=auth(owner)
    )

    assert expect_data(response)["role"] == "owner"
    roles = dict(await db.fetch("SELECT user_id::text, role FROM org_members WHERE org_id = $1", org["id"]))
    assert roles == {heir.id: "owner", owner.id: "admin"}
    expect_problem(await client.delete(f"/orgs/{org['id']}", headers=auth(owner)), 403, "PERMISSION_DENIED")


async def test_transfer_to_a_non_member_is_404(client: Client) -> None:
    owner = await signed_in_user(client)
    stranger = await signed_in_user(client)
    org = await create(client, owner)

    response = await client.post(
        f"/orgs/{org['id']}/transfer-ownership", json={"user_id": stranger.id}, headers=auth(owner)
    )

    expect_problem(response, 404, "NOT_FOUND")


async def test_an_admin_cannot_touch_an_owner(client: Client, db: Any) -> None:
    owner = await signed_in_user(client)
    admin = await signed_in_user(client)
    org = await create(client, owner)
    await db.execute(
        "INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, 'admin')", org["id"], admin.id
    )
    path = f"/orgs/{org['id']}/members/{owner.id}"

    expect_problem(
        await client.patch(path, json={"role": "member"}, headers=auth(admin)), 403, "PERMISSION_DENIED"
    )
    expect_problem(await client.delete(path, headers=auth(admin)), 403, "PERMISSION_DENIED")
    promote = await client.patch(
        f"/orgs/{org['id']}/members/{admin.id}", json={"role": "owner"}, headers=auth(admin)
    )
    expect_problem(promote, 403, "PERMISSION_DENIED")


async def test_deleting_the_account_of_a_sole_owner_is_409(client: Client, db: Any) -> None:
    owner = await signed_in_user(client)
    heir = await signed_in_user(client)
    org = await create(client, owner)

    expect_problem(await client.delete("/users/me", headers=auth(owner)), 409, "LAST_OWNER")
    await db.execute(
        "INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, 'owner')", org["id"], heir.id
    )
    assert (await client.delete("/users/me", headers=auth(owner))).status_code == 204

    members = expect_data(await client.get(f"/orgs/{org['id']}/members", headers=auth(heir)))
    assert [member["user_id"] for member in members] == [heir.id]
