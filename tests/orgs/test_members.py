"""GET/PATCH/DELETE /orgs/{org_id}/members, POST /orgs/{org_id}/leave and DELETE /users/me
inside orgs: who may change whom, and the rule that an org always keeps one owner, also when
owners race each other."""

from __future__ import annotations

import asyncio
from uuid import UUID, uuid4

import httpx
import pytest

from tests.factories import Client, expect_data, expect_no_content, expect_problem, signed_in_user
from tests.orgs.org_helpers_orgs import (
    Pool,
    all_pages,
    concurrently,
    leave,
    org_with,
    owner_ids,
    remove,
    role_in_db,
    set_role,
    transfer,
)

MEMBER_FIELDS = {"user_id", "username", "display_name", "role", "joined_at"}
RACE_ROUNDS = 5


async def _audit_count(db: Pool, org_id: str) -> int:
    return await db.fetchval("SELECT count(*) FROM audit_events WHERE org_id = $1", UUID(org_id))


def _single_success(answers: list[httpx.Response], ok: int) -> httpx.Response:
    """Exactly one answer has status `ok`; return the other (the loser)."""
    winners = [a for a in answers if a.status_code == ok]
    losers = [a for a in answers if a.status_code != ok]
    assert len(winners) == 1, [(a.status_code, a.text) for a in answers]
    assert len(losers) == 1
    return losers[0]


# ---- GET /orgs/{org_id}/members -----------------------------------------------------------------


async def test_list_members_shows_everyone_with_their_role(client: Client, db: Pool) -> None:
    org_id, owner, [admin, member, viewer] = await org_with(client, db, "admin", "member", "viewer")

    members = expect_data(await client.get(f"/orgs/{org_id}/members", headers=viewer.headers))

    assert all(set(m) == MEMBER_FIELDS for m in members)
    assert {m["user_id"]: m["role"] for m in members} == {
        owner.id: "owner",
        admin.id: "admin",
        member.id: "member",
        viewer.id: "viewer",
    }
    assert {m["username"] for m in members} == {u.username for u in (owner, admin, member, viewer)}


async def test_list_members_paginates_with_a_cursor(client: Client, db: Pool) -> None:
    org_id, owner, others = await org_with(client, db, "member", "member", "viewer", "admin")

    items, pages = await all_pages(client, owner, f"/orgs/{org_id}/members", limit=2)

    ids = [m["user_id"] for m in items]
    assert pages == 3
    assert len(ids) == len(set(ids)) == 5
    assert set(ids) == {owner.id, *(u.id for u in others)}
    assert ids == sorted(ids, key=UUID)


async def test_list_members_rejects_a_tampered_cursor(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)

    response = await client.get(f"/orgs/{org_id}/members", params={"cursor": "%%%"}, headers=owner.headers)

    expect_problem(response, 422, "INVALID_CURSOR")


async def test_a_non_member_cannot_list_members(client: Client, db: Pool) -> None:
    org_id, _, _ = await org_with(client, db)
    stranger = await signed_in_user(client)

    expect_problem(await client.get(f"/orgs/{org_id}/members", headers=stranger.headers), 404, "NOT_FOUND")
    expect_problem(await client.get(f"/orgs/{org_id}/members"), 401, "AUTHENTICATION_REQUIRED")


# ---- PATCH /orgs/{org_id}/members/{user_id} ------------------------------------------------------


async def test_owner_changes_a_members_role(client: Client, db: Pool) -> None:
    org_id, owner, [member] = await org_with(client, db, "member")

    changed = expect_data(await set_role(client, owner, org_id, member.id, "admin"))

    assert set(changed) == MEMBER_FIELDS
    assert (changed["user_id"], changed["role"]) == (member.id, "admin")
    assert await role_in_db(db, org_id, member.id) == "admin"


async def test_admin_changes_a_members_role_below_owner(client: Client, db: Pool) -> None:
    org_id, _, [admin, member] = await org_with(client, db, "admin", "member")

    expect_data(await set_role(client, admin, org_id, member.id, "viewer"))
    expect_data(await set_role(client, admin, org_id, member.id, "admin"))

    assert await role_in_db(db, org_id, member.id) == "admin"


async def test_admin_cannot_grant_owner(client: Client, db: Pool) -> None:
    org_id, owner, [admin, member] = await org_with(client, db, "admin", "member")

    expect_problem(await set_role(client, admin, org_id, member.id, "owner"), 403, "PERMISSION_DENIED")
    expect_problem(await set_role(client, admin, org_id, admin.id, "owner"), 403, "PERMISSION_DENIED")

    assert await owner_ids(db, org_id) == {owner.id}
    assert await role_in_db(db, org_id, member.id) == "member"


@pytest.mark.parametrize("new_role", ["admin", "member", "viewer"])
async def test_admin_cannot_change_an_owner(client: Client, db: Pool, new_role: str) -> None:
    org_id, owner, [admin, _] = await org_with(client, db, "admin", "owner")

    expect_problem(await set_role(client, admin, org_id, owner.id, new_role), 403, "PERMISSION_DENIED")

    assert owner.id in await owner_ids(db, org_id)


async def test_owner_can_grant_owner(client: Client, db: Pool) -> None:
    org_id, owner, [admin] = await org_with(client, db, "admin")

    assert expect_data(await set_role(client, owner, org_id, admin.id, "owner"))["role"] == "owner"

    assert await owner_ids(db, org_id) == {owner.id, admin.id}


async def test_owner_can_demote_another_owner(client: Client, db: Pool) -> None:
    org_id, owner, [co_owner] = await org_with(client, db, "owner")

    expect_data(await set_role(client, owner, org_id, co_owner.id, "viewer"))

    assert await owner_ids(db, org_id) == {owner.id}
    assert await role_in_db(db, org_id, co_owner.id) == "viewer"


@pytest.mark.parametrize("role", ["member", "viewer"])
async def test_member_and_viewer_cannot_change_roles(client: Client, db: Pool, role: str) -> None:
    org_id, _, [user, other] = await org_with(client, db, role, "viewer")

    expect_problem(await set_role(client, user, org_id, other.id, "member"), 403, "PERMISSION_DENIED")
    expect_problem(await set_role(client, user, org_id, user.id, "admin"), 403, "PERMISSION_DENIED")

    assert await role_in_db(db, org_id, other.id) == "viewer"
    assert await role_in_db(db, org_id, user.id) == role


async def test_an_unchanged_role_is_a_no_op(client: Client, db: Pool) -> None:
    org_id, owner, [member] = await org_with(client, db, "member")
    events = await _audit_count(db, org_id)

    same = expect_data(await set_role(client, owner, org_id, member.id, "member"))

    assert (same["user_id"], same["role"]) == (member.id, "member")
    assert await role_in_db(db, org_id, member.id) == "member"
    assert await _audit_count(db, org_id) == events  # nothing changed, nothing recorded


async def test_the_sole_owner_keeping_owner_is_a_no_op_not_a_conflict(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)

    assert expect_data(await set_role(client, owner, org_id, owner.id, "owner"))["role"] == "owner"


async def test_changing_the_role_of_a_non_member_is_404(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    stranger = await signed_in_user(client)

    expect_problem(await set_role(client, owner, org_id, stranger.id, "member"), 404, "NOT_FOUND")
    expect_problem(await set_role(client, owner, org_id, str(uuid4()), "member"), 404, "NOT_FOUND")

    assert await role_in_db(db, org_id, stranger.id) is None


@pytest.mark.parametrize("body", [{"role": "superuser"}, {"role": None}, {}, {"role": "admin", "x": 1}])
async def test_change_role_validates_the_body(client: Client, db: Pool, body: dict[str, object]) -> None:
    org_id, owner, [member] = await org_with(client, db, "member")

    response = await client.patch(f"/orgs/{org_id}/members/{member.id}", json=body, headers=owner.headers)

    expect_problem(response, 422, "VALIDATION_ERROR")
    assert await role_in_db(db, org_id, member.id) == "member"


# ---- DELETE /orgs/{org_id}/members/{user_id} -----------------------------------------------------


@pytest.mark.parametrize("actor_role", ["owner", "admin"])
async def test_owner_and_admin_remove_a_member(client: Client, db: Pool, actor_role: str) -> None:
    org_id, owner, [admin, member] = await org_with(client, db, "admin", "member")
    actor = owner if actor_role == "owner" else admin

    expect_no_content(await remove(client, actor, org_id, member.id))

    assert await role_in_db(db, org_id, member.id) is None
    listed = expect_data(await client.get(f"/orgs/{org_id}/members", headers=actor.headers))
    assert member.id not in {m["user_id"] for m in listed}
    # The removed user has lost access at once.
    expect_problem(await client.get(f"/orgs/{org_id}", headers=member.headers), 404, "NOT_FOUND")
    assert org_id not in {o["id"] for o in expect_data(await client.get("/orgs", headers=member.headers))}


async def test_admin_cannot_remove_an_owner(client: Client, db: Pool) -> None:
    org_id, owner, [admin, _] = await org_with(client, db, "admin", "owner")

    expect_problem(await remove(client, admin, org_id, owner.id), 403, "PERMISSION_DENIED")

    assert await role_in_db(db, org_id, owner.id) == "owner"


async def test_owner_removes_another_owner(client: Client, db: Pool) -> None:
    org_id, owner, [co_owner] = await org_with(client, db, "owner")

    expect_no_content(await remove(client, owner, org_id, co_owner.id))

    assert await owner_ids(db, org_id) == {owner.id}


@pytest.mark.parametrize("role", ["member", "viewer"])
async def test_member_and_viewer_cannot_remove_anyone(client: Client, db: Pool, role: str) -> None:
    org_id, _, [user, other] = await org_with(client, db, role, "viewer")

    expect_problem(await remove(client, user, org_id, other.id), 403, "PERMISSION_DENIED")

    assert await role_in_db(db, org_id, other.id) == "viewer"


async def test_removing_a_non_member_is_404(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    stranger = await signed_in_user(client)

    expect_problem(await remove(client, owner, org_id, stranger.id), 404, "NOT_FOUND")


async def test_a_non_member_cannot_remove_members(client: Client, db: Pool) -> None:
    org_id, _, [member] = await org_with(client, db, "member")
    stranger = await signed_in_user(client)

    expect_problem(await remove(client, stranger, org_id, member.id), 404, "NOT_FOUND")

    assert await role_in_db(db, org_id, member.id) == "member"


# ---- POST /orgs/{org_id}/leave ------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
async def test_a_member_leaves(client: Client, db: Pool, role: str) -> None:
    org_id, owner, [user] = await org_with(client, db, role)

    expect_no_content(await leave(client, user, org_id))

    assert await role_in_db(db, org_id, user.id) is None
    assert await owner_ids(db, org_id) == {owner.id}
    expect_problem(await client.get(f"/orgs/{org_id}", headers=user.headers), 404, "NOT_FOUND")
    expect_problem(await leave(client, user, org_id), 404, "NOT_FOUND")


async def test_an_owner_with_a_co_owner_can_leave(client: Client, db: Pool) -> None:
    org_id, owner, [co_owner] = await org_with(client, db, "owner")

    expect_no_content(await leave(client, owner, org_id))

    assert await owner_ids(db, org_id) == {co_owner.id}


async def test_a_non_member_cannot_leave(client: Client, db: Pool) -> None:
    org_id, _, _ = await org_with(client, db)
    stranger = await signed_in_user(client)

    expect_problem(await leave(client, stranger, org_id), 404, "NOT_FOUND")
    expect_problem(await client.post(f"/orgs/{org_id}/leave"), 401, "AUTHENTICATION_REQUIRED")


# ---- the last owner -------------------------------------------------------------------------------


@pytest.mark.parametrize("new_role", ["admin", "member", "viewer"])
async def test_the_last_owner_cannot_demote_themselves(client: Client, db: Pool, new_role: str) -> None:
    org_id, owner, [_] = await org_with(client, db, "admin")

    expect_problem(await set_role(client, owner, org_id, owner.id, new_role), 409, "LAST_OWNER")

    assert await owner_ids(db, org_id) == {owner.id}


async def test_the_last_owner_cannot_remove_themselves(client: Client, db: Pool) -> None:
    org_id, owner, [_] = await org_with(client, db, "admin")

    expect_problem(await remove(client, owner, org_id, owner.id), 409, "LAST_OWNER")

    assert await owner_ids(db, org_id) == {owner.id}


async def test_the_last_owner_cannot_leave(client: Client, db: Pool) -> None:
    org_id, owner, [member] = await org_with(client, db, "member")

    expect_problem(await leave(client, owner, org_id), 409, "LAST_OWNER")

    assert await owner_ids(db, org_id) == {owner.id}
    assert await role_in_db(db, org_id, member.id) == "member"


async def test_an_owner_may_step_down_while_another_owner_remains(client: Client, db: Pool) -> None:
    org_id, owner, [co_owner] = await org_with(client, db, "owner")

    expect_data(await set_role(client, owner, org_id, owner.id, "admin"))
    expect_problem(await set_role(client, co_owner, org_id, co_owner.id, "admin"), 409, "LAST_OWNER")

    assert await owner_ids(db, org_id) == {co_owner.id}


# ---- races between owners --------------------------------------------------------------------


async def test_owners_demoting_each_other_at_once_keep_exactly_one_owner(client: Client, db: Pool) -> None:
    for _ in range(RACE_ROUNDS):
        org_id, a, [b] = await org_with(client, db, "owner")

        answers = await concurrently(
            client,
            ("PATCH", f"/orgs/{org_id}/members/{b.id}", a, {"role": "admin"}),
            ("PATCH", f"/orgs/{org_id}/members/{a.id}", b, {"role": "admin"}),
        )

        loser = _single_success(list(answers), 200)
        # The loser either saw the last owner (409) or was already demoted when it was checked (403).
        expect_problem(
            loser, loser.status_code, "LAST_OWNER" if loser.status_code == 409 else "PERMISSION_DENIED"
        )
        assert loser.status_code in (403, 409)
        owners = await owner_ids(db, org_id)
        assert len(owners) == 1
        assert owners <= {a.id, b.id}


async def test_owners_leaving_at_once_keep_exactly_one_owner(client: Client, db: Pool) -> None:
    for _ in range(RACE_ROUNDS):
        org_id, a, [b] = await org_with(client, db, "owner")

        answers = await concurrently(
            client, ("POST", f"/orgs/{org_id}/leave", a, None), ("POST", f"/orgs/{org_id}/leave", b, None)
        )

        expect_problem(_single_success(list(answers), 204), 409, "LAST_OWNER")
        owners = await owner_ids(db, org_id)
        assert len(owners) == 1
        # The one who stayed is still a member; the one who left is gone.
        members = await db.fetchval("SELECT count(*) FROM org_members WHERE org_id = $1", UUID(org_id))
        assert members == 1


async def test_owners_removing_each_other_at_once_keep_exactly_one_owner(client: Client, db: Pool) -> None:
    for _ in range(RACE_ROUNDS):
        org_id, a, [b] = await org_with(client, db, "owner")

        answers = await concurrently(
            client,
            ("DELETE", f"/orgs/{org_id}/members/{b.id}", a, None),
            ("DELETE", f"/orgs/{org_id}/members/{a.id}", b, None),
        )

        loser = _single_success(list(answers), 204)
        assert loser.status_code in (404, 409), loser.text
        expect_problem(loser, loser.status_code, "LAST_OWNER" if loser.status_code == 409 else "NOT_FOUND")
        assert len(await owner_ids(db, org_id)) == 1


async def _waiting_on_locks(db: Pool) -> int:
    return await db.fetchval(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )


async def _until_waiting(db: Pool, count: int) -> None:
    for _ in range(200):
        if await _waiting_on_locks(db) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {count} requests waiting on the org lock")


async def test_an_owner_demoted_while_waiting_for_the_lock_acts_as_admin(client: Client, db: Pool) -> None:
    org_id, a, [b, c] = await org_with(client, db, "owner", "owner")
    async with db.acquire() as holder:
        tx = holder.transaction()
        await tx.start()
        await holder.execute("SELECT id FROM orgs WHERE id = $1 FOR UPDATE", UUID(org_id))
        baseline = await _waiting_on_locks(db)
        first = asyncio.ensure_future(
            concurrently(client, ("PATCH", f"/orgs/{org_id}/members/{b.id}", a, {"role": "admin"}))
        )  # A demotes B
        await _until_waiting(db, baseline + 1)
        second = asyncio.ensure_future(
            concurrently(client, ("PATCH", f"/orgs/{org_id}/members/{c.id}", b, {"role": "admin"}))
        )  # B demotes C
        await _until_waiting(db, baseline + 2)
        await tx.rollback()
    expect_data((await first)[0])

    # By the time B's change runs, B is an admin, and admins cannot touch owners.
    expect_problem((await second)[0], 403, "PERMISSION_DENIED")
    assert await owner_ids(db, org_id) == {a.id, c.id}


# ---- DELETE /users/me and org ownership ------------------------------------------------------------


async def test_the_sole_owner_cannot_delete_their_account(client: Client, db: Pool) -> None:
    org_id, owner, [member] = await org_with(client, db, "member")

    problem = expect_problem(await client.delete("/users/me", headers=owner.headers), 409, "LAST_OWNER")

    slug = await db.fetchval("SELECT slug FROM orgs WHERE id = $1", UUID(org_id))
    assert slug in problem["detail"]
    expect_data(await client.get("/users/me", headers=owner.headers))
    assert await owner_ids(db, org_id) == {owner.id}
    assert await db.fetchval("SELECT deleted_at FROM users WHERE id = $1", UUID(owner.id)) is None
    assert await role_in_db(db, org_id, member.id) == "member"


async def test_after_transferring_ownership_the_account_can_be_deleted(client: Client, db: Pool) -> None:
    org_id, owner, [member] = await org_with(client, db, "member")
    expect_data(await transfer(client, owner, org_id, member.id))

    expect_no_content(await client.delete("/users/me", headers=owner.headers))

    members = expect_data(await client.get(f"/orgs/{org_id}/members", headers=member.headers))
    assert [(m["user_id"], m["role"]) for m in members] == [(member.id, "owner")]
    assert await role_in_db(db, org_id, owner.id) is None


async def test_a_co_owner_can_delete_their_account(client: Client, db: Pool) -> None:
    org_id, owner, [co_owner] = await org_with(client, db, "owner")

    expect_no_content(await client.delete("/users/me", headers=co_owner.headers))

    assert await owner_ids(db, org_id) == {owner.id}


async def test_an_owner_of_a_deleted_org_can_delete_their_account(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    expect_no_content(await client.delete(f"/orgs/{org_id}", headers=owner.headers))

    expect_no_content(await client.delete("/users/me", headers=owner.headers))


async def test_deleting_the_account_and_demoting_the_other_owner_at_once_keeps_an_owner(
    client: Client, db: Pool
) -> None:
    for _ in range(RACE_ROUNDS):
        org_id, a, [b] = await org_with(client, db, "owner")

        answers = await concurrently(
            client,
            ("DELETE", "/users/me", a, None),
            ("PATCH", f"/orgs/{org_id}/members/{b.id}", b, {"role": "admin"}),
        )

        assert [r.status_code for r in answers].count(409) == 1, [r.text for r in answers]
        assert len(await owner_ids(db, org_id)) == 1
