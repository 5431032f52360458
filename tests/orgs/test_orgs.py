"""POST/GET /orgs, GET/PATCH/DELETE /orgs/{org_id} and POST /orgs/{org_id}/transfer-ownership:
the creator owns the org, slugs are validated and unique among live orgs, each role sees and
changes only what the permission matrix allows, and a deleted org is gone for everyone."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import pytest
from litestar import Litestar

from tests.factories import (
    Client,
    bearer,
    expect_data,
    expect_no_content,
    expect_problem,
    signed_in_user,
)
from tests.orgs.org_helpers_orgs import (
    Pool,
    add_member,
    all_pages,
    create_org,
    new_slug,
    org_with,
    owner_ids,
    role_in_db,
    transfer,
)

ORG_FIELDS = {"id", "name", "slug", "created_at", "updated_at", "role"}


# ---- POST /orgs -------------------------------------------------------------------------------


async def test_create_org_is_201_and_the_creator_is_its_owner(client: Client, db: Pool) -> None:
    user = await signed_in_user(client)
    slug = new_slug()

    response = await client.post("/orgs", json={"name": "Acme Corp", "slug": slug}, headers=user.headers)

    org = expect_data(response, 201)
    assert set(org) == ORG_FIELDS
    assert (org["name"], org["slug"], org["role"]) == ("Acme Corp", slug, "owner")
    assert await owner_ids(db, org["id"]) == {user.id}
    row = await db.fetchrow("SELECT slug, created_by, deleted_at FROM orgs WHERE id = $1", UUID(org["id"]))
    assert row is not None
    assert (row["slug"], str(row["created_by"]), row["deleted_at"]) == (slug, user.id, None)


async def test_the_created_org_can_be_read_back(client: Client) -> None:
    user = await signed_in_user(client)
    created = await create_org(client, user, name="Readable")

    fetched = expect_data(await client.get(f"/orgs/{created['id']}", headers=user.headers))

    assert fetched == created


# Valid shapes, filled with random hex so that runs sharing the database never collide.
VALID_SLUGS: dict[str, Callable[[], str]] = {
    "3-chars": lambda: secrets.token_hex(2)[:3],
    "inner-hyphen": lambda: f"{secrets.token_hex(3)}-{secrets.token_hex(3)}",
    "double-hyphen": lambda: f"{secrets.token_hex(3)}--{secrets.token_hex(3)}",
    "digits-only": lambda: str(10**11 + secrets.randbelow(9 * 10**11)),
    "40-chars": lambda: secrets.token_hex(20),
    "mostly-hyphens": lambda: f"{secrets.token_hex(1)}{'-' * 36}{secrets.token_hex(1)}",
}


@pytest.mark.parametrize("shape", VALID_SLUGS)
async def test_create_org_accepts_valid_slugs(client: Client, shape: str) -> None:
    user = await signed_in_user(client)
    slug = VALID_SLUGS[shape]()
    assert 3 <= len(slug) <= 40

    org = expect_data(
        await client.post("/orgs", json={"name": "Ok", "slug": slug}, headers=user.headers), 201
    )

    assert org["slug"] == slug


@pytest.mark.parametrize(
    "slug",
    [
        "ab",
        "a" * 41,
        "Abc",
        "ABC",
        "-abc",
        "abc-",
        "ab_c",
        "ab c",
        "ab.c",
        "abc\n",
        "äbc",
        "",
    ],
    ids=[
        "too-short",
        "too-long",
        "capital",
        "upper",
        "leading-hyphen",
        "trailing-hyphen",
        "underscore",
        "space",
        "dot",
        "trailing-newline",
        "non-ascii",
        "empty",
    ],
)
async def test_create_org_rejects_invalid_slugs(client: Client, db: Pool, slug: str) -> None:
    user = await signed_in_user(client)

    response = await client.post("/orgs", json={"name": "Bad", "slug": slug}, headers=user.headers)

    expect_problem(response, 422, "VALIDATION_ERROR", path="$.slug")
    assert await db.fetchval("SELECT count(*) FROM orgs WHERE created_by = $1", UUID(user.id)) == 0


@pytest.mark.parametrize("slug", [123, None, ["abc"]], ids=["number", "null", "list"])
async def test_create_org_rejects_a_slug_that_is_not_a_string(client: Client, slug: Any) -> None:
    user = await signed_in_user(client)

    response = await client.post("/orgs", json={"name": "Bad", "slug": slug}, headers=user.headers)

    expect_problem(response, 422, "VALIDATION_ERROR", path="$.slug")


@pytest.mark.parametrize("name", ["", "n" * 101, "nul\x00byte"], ids=["empty", "too-long", "nul"])
async def test_create_org_rejects_invalid_names(client: Client, name: str) -> None:
    user = await signed_in_user(client)

    response = await client.post("/orgs", json={"name": name, "slug": new_slug()}, headers=user.headers)

    expect_problem(response, 422, "VALIDATION_ERROR", path="$.name")


@pytest.mark.parametrize("missing", ["name", "slug"])
async def test_create_org_requires_name_and_slug(client: Client, missing: str) -> None:
    user = await signed_in_user(client)
    body = {"name": "Acme", "slug": new_slug()}
    del body[missing]

    response = await client.post("/orgs", json=body, headers=user.headers)

    expect_problem(response, 422, "VALIDATION_ERROR")


async def test_create_org_rejects_unknown_fields(client: Client, db: Pool) -> None:
    user = await signed_in_user(client)
    slug = new_slug()

    response = await client.post(
        "/orgs", json={"name": "Acme", "slug": slug, "owner_id": str(uuid4())}, headers=user.headers
    )

    problem = expect_problem(response, 422, "VALIDATION_ERROR")
    assert "owner_id" in str(problem["errors"])
    assert await db.fetchval("SELECT count(*) FROM orgs WHERE slug = $1", slug) == 0


async def test_create_org_with_a_taken_slug_is_409(client: Client, db: Pool) -> None:
    first = await signed_in_user(client)
    second = await signed_in_user(client)
    org = await create_org(client, first)

    response = await client.post("/orgs", json={"name": "Copy", "slug": org["slug"]}, headers=second.headers)

    expect_problem(response, 409, "SLUG_TAKEN", path="$.slug")
    assert await db.fetchval("SELECT count(*) FROM orgs WHERE slug = $1", org["slug"]) == 1
    # No half-created org for the second user: the membership insert was rolled back too.
    assert await db.fetchval("SELECT count(*) FROM org_members WHERE user_id = $1", UUID(second.id)) == 0


async def test_concurrent_creates_with_one_slug_make_one_org(client: Client, db: Pool) -> None:
    users = [await signed_in_user(client) for _ in range(3)]
    slug = new_slug()

    answers = await asyncio.gather(
        *(client.post("/orgs", json={"name": "Race", "slug": slug}, headers=u.headers) for u in users)
    )

    assert sorted(a.status_code for a in answers) == [201, 409, 409], [a.text for a in answers]
    for answer in answers:
        if answer.status_code == 409:
            expect_problem(answer, 409, "SLUG_TAKEN", path="$.slug")
    assert await db.fetchval("SELECT count(*) FROM orgs WHERE slug = $1", slug) == 1


async def test_a_deleted_org_frees_its_slug(client: Client) -> None:
    first = await signed_in_user(client)
    second = await signed_in_user(client)
    old = await create_org(client, first)
    expect_no_content(await client.delete(f"/orgs/{old['id']}", headers=first.headers))

    new = await create_org(client, second, slug=old["slug"])

    assert new["slug"] == old["slug"]
    assert new["id"] != old["id"]
    assert new["role"] == "owner"


async def test_create_org_without_a_token_is_401(client: Client, db: Pool) -> None:
    slug = new_slug()

    response = await client.post("/orgs", json={"name": "Anon", "slug": slug})

    expect_problem(response, 401, "AUTHENTICATION_REQUIRED")
    assert await db.fetchval("SELECT count(*) FROM orgs WHERE slug = $1", slug) == 0


async def test_create_org_with_a_bad_token_is_401(client: Client) -> None:
    response = await client.post("/orgs", json={"name": "Anon", "slug": new_slug()}, headers=bearer("nope"))

    expect_problem(response, 401, "INVALID_TOKEN")


# ---- GET /orgs --------------------------------------------------------------------------------


async def test_list_orgs_shows_only_the_callers_orgs_with_their_role(client: Client, db: Pool) -> None:
    me = await signed_in_user(client)
    other = await signed_in_user(client)
    mine = await create_org(client, me)
    theirs_with_me = await create_org(client, other)
    theirs_only = await create_org(client, other)
    await add_member(db, theirs_with_me["id"], me, "viewer")

    orgs = expect_data(await client.get("/orgs", headers=me.headers))

    assert {o["id"]: o["role"] for o in orgs} == {mine["id"]: "owner", theirs_with_me["id"]: "viewer"}
    assert theirs_only["id"] not in {o["id"] for o in orgs}
    assert all(set(o) == ORG_FIELDS for o in orgs)


async def test_list_orgs_is_empty_for_a_user_in_no_org(client: Client) -> None:
    loner = await signed_in_user(client)

    response = await client.get("/orgs", headers=loner.headers)

    assert expect_data(response) == []
    assert response.json()["meta"] == {"next_cursor": None, "has_more": False}


async def test_list_orgs_paginates_with_a_cursor(client: Client) -> None:
    user = await signed_in_user(client)
    created = {(await create_org(client, user))["id"] for _ in range(5)}

    items, pages = await all_pages(client, user, "/orgs", limit=2)

    ids = [o["id"] for o in items]
    assert pages == 3
    assert len(ids) == len(set(ids)) == 5
    assert set(ids) == created
    assert ids == sorted(ids, key=UUID)


async def test_list_orgs_limit_bounds_the_page(client: Client) -> None:
    user = await signed_in_user(client)
    for _ in range(3):
        await create_org(client, user)

    response = await client.get("/orgs", params={"limit": 1}, headers=user.headers)

    assert len(expect_data(response)) == 1
    assert response.json()["meta"]["has_more"] is True


@pytest.mark.parametrize("limit", [0, 101, -1])
async def test_list_orgs_rejects_a_limit_out_of_range(client: Client, limit: int) -> None:
    user = await signed_in_user(client)

    response = await client.get("/orgs", params={"limit": limit}, headers=user.headers)

    expect_problem(response, 422, "VALIDATION_ERROR", path="limit")


async def test_list_orgs_rejects_a_tampered_cursor(client: Client) -> None:
    user = await signed_in_user(client)

    response = await client.get("/orgs", params={"cursor": "not-a-cursor!"}, headers=user.headers)

    expect_problem(response, 422, "INVALID_CURSOR")


async def test_deleted_orgs_vanish_from_the_list(client: Client, db: Pool) -> None:
    owner = await signed_in_user(client)
    member = await signed_in_user(client)
    kept = await create_org(client, owner)
    gone = await create_org(client, owner)
    await add_member(db, gone["id"], member, "member")

    expect_no_content(await client.delete(f"/orgs/{gone['id']}", headers=owner.headers))

    assert [o["id"] for o in expect_data(await client.get("/orgs", headers=owner.headers))] == [kept["id"]]
    assert expect_data(await client.get("/orgs", headers=member.headers)) == []


async def test_list_orgs_without_a_token_is_401(client: Client) -> None:
    expect_problem(await client.get("/orgs"), 401, "AUTHENTICATION_REQUIRED")


# ---- GET /orgs/{org_id} -----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
async def test_every_member_can_read_the_org_and_sees_their_role(client: Client, db: Pool, role: str) -> None:
    org_id, _, [user] = await org_with(client, db, role)

    org = expect_data(await client.get(f"/orgs/{org_id}", headers=user.headers))

    assert (org["id"], org["role"]) == (org_id, role)


async def test_a_non_member_gets_404_for_an_org(client: Client) -> None:
    owner = await signed_in_user(client)
    stranger = await signed_in_user(client)
    org = await create_org(client, owner)

    expect_problem(await client.get(f"/orgs/{org['id']}", headers=stranger.headers), 404, "NOT_FOUND")


async def test_an_unknown_org_is_404(client: Client) -> None:
    user = await signed_in_user(client)

    expect_problem(await client.get(f"/orgs/{uuid4()}", headers=user.headers), 404, "NOT_FOUND")


async def test_get_org_without_a_token_is_401(client: Client) -> None:
    owner = await signed_in_user(client)
    org = await create_org(client, owner)

    expect_problem(await client.get(f"/orgs/{org['id']}"), 401, "AUTHENTICATION_REQUIRED")


# ---- PATCH /orgs/{org_id} ---------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "admin"])
async def test_owner_and_admin_can_rename_and_reslug(client: Client, db: Pool, role: str) -> None:
    org_id, owner, [admin] = await org_with(client, db, "admin")
    actor = owner if role == "owner" else admin
    slug = new_slug()

    response = await client.patch(
        f"/orgs/{org_id}", json={"name": "Renamed", "slug": slug}, headers=actor.headers
    )

    org = expect_data(response)
    assert (org["name"], org["slug"], org["role"]) == ("Renamed", slug, role)
    row = await db.fetchrow("SELECT name, slug FROM orgs WHERE id = $1", UUID(org_id))
    assert row is not None
    assert (row["name"], row["slug"]) == ("Renamed", slug)


async def test_patch_changes_only_the_fields_sent(client: Client) -> None:
    owner = await signed_in_user(client)
    org = await create_org(client, owner, name="Before")

    patched = expect_data(
        await client.patch(f"/orgs/{org['id']}", json={"name": "After"}, headers=owner.headers)
    )

    assert (patched["name"], patched["slug"]) == ("After", org["slug"])
    assert patched["updated_at"] >= org["updated_at"]


async def test_an_empty_patch_changes_nothing(client: Client) -> None:
    owner = await signed_in_user(client)
    org = await create_org(client, owner, name="Same")

    patched = expect_data(await client.patch(f"/orgs/{org['id']}", json={}, headers=owner.headers))

    assert (patched["name"], patched["slug"]) == ("Same", org["slug"])


@pytest.mark.parametrize("role", ["member", "viewer"])
async def test_member_and_viewer_cannot_patch_the_org(client: Client, db: Pool, role: str) -> None:
    org_id, _, [user] = await org_with(client, db, role)

    response = await client.patch(f"/orgs/{org_id}", json={"name": "Hijacked"}, headers=user.headers)

    expect_problem(response, 403, "PERMISSION_DENIED")
    assert await db.fetchval("SELECT name FROM orgs WHERE id = $1", UUID(org_id)) == "Acme"


async def test_a_non_member_cannot_patch_the_org(client: Client, db: Pool) -> None:
    org_id, _, _ = await org_with(client, db)
    stranger = await signed_in_user(client)

    response = await client.patch(f"/orgs/{org_id}", json={"name": "Hijacked"}, headers=stranger.headers)

    expect_problem(response, 404, "NOT_FOUND")
    assert await db.fetchval("SELECT name FROM orgs WHERE id = $1", UUID(org_id)) == "Acme"


async def test_patch_to_a_taken_slug_is_409(client: Client, db: Pool) -> None:
    owner = await signed_in_user(client)
    first = await create_org(client, owner)
    second = await create_org(client, owner)

    response = await client.patch(
        f"/orgs/{second['id']}", json={"slug": first["slug"]}, headers=owner.headers
    )

    expect_problem(response, 409, "SLUG_TAKEN", path="$.slug")
    assert await db.fetchval("SELECT slug FROM orgs WHERE id = $1", UUID(second["id"])) == second["slug"]


async def test_patch_to_its_own_slug_is_fine(client: Client) -> None:
    owner = await signed_in_user(client)
    org = await create_org(client, owner)

    patched = expect_data(
        await client.patch(f"/orgs/{org['id']}", json={"slug": org["slug"]}, headers=owner.headers)
    )

    assert patched["slug"] == org["slug"]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"slug": "Bad Slug"}, "$.slug"),
        ({"slug": "ab"}, "$.slug"),
        ({"name": ""}, "$.name"),
        ({"name": None}, "$.name"),
    ],
    ids=["slug-chars", "slug-short", "empty-name", "null-name"],
)
async def test_patch_validates_fields(client: Client, body: dict[str, Any], path: str) -> None:
    owner = await signed_in_user(client)
    org = await create_org(client, owner)

    response = await client.patch(f"/orgs/{org['id']}", json=body, headers=owner.headers)

    expect_problem(response, 422, "VALIDATION_ERROR", path=path)


async def test_patch_rejects_unknown_fields(client: Client) -> None:
    owner = await signed_in_user(client)
    org = await create_org(client, owner)

    response = await client.patch(f"/orgs/{org['id']}", json={"deleted_at": None}, headers=owner.headers)

    expect_problem(response, 422, "VALIDATION_ERROR")


# ---- DELETE /orgs/{org_id} --------------------------------------------------------------------


async def test_the_owner_deletes_the_org_and_it_is_gone_for_everyone(client: Client, db: Pool) -> None:
    org_id, owner, users = await org_with(client, db, "admin", "member", "viewer")

    expect_no_content(await client.delete(f"/orgs/{org_id}", headers=owner.headers))

    assert await db.fetchval("SELECT deleted_at FROM orgs WHERE id = $1", UUID(org_id)) is not None
    for user in (owner, *users):
        expect_problem(await client.get(f"/orgs/{org_id}", headers=user.headers), 404, "NOT_FOUND")
        expect_problem(await client.get(f"/orgs/{org_id}/members", headers=user.headers), 404, "NOT_FOUND")
    expect_problem(
        await client.patch(f"/orgs/{org_id}", json={"name": "x"}, headers=owner.headers), 404, "NOT_FOUND"
    )
    expect_problem(await client.delete(f"/orgs/{org_id}", headers=owner.headers), 404, "NOT_FOUND")
    expect_problem(await client.post(f"/orgs/{org_id}/leave", headers=owner.headers), 404, "NOT_FOUND")


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
async def test_only_the_owner_can_delete_the_org(client: Client, db: Pool, role: str) -> None:
    org_id, _, [user] = await org_with(client, db, role)

    expect_problem(await client.delete(f"/orgs/{org_id}", headers=user.headers), 403, "PERMISSION_DENIED")

    assert await db.fetchval("SELECT deleted_at FROM orgs WHERE id = $1", UUID(org_id)) is None


async def test_a_non_member_cannot_delete_the_org(client: Client, db: Pool) -> None:
    org_id, _, _ = await org_with(client, db)
    stranger = await signed_in_user(client)

    expect_problem(await client.delete(f"/orgs/{org_id}", headers=stranger.headers), 404, "NOT_FOUND")

    assert await db.fetchval("SELECT deleted_at FROM orgs WHERE id = $1", UUID(org_id)) is None


async def test_delete_org_without_a_token_is_401(client: Client, db: Pool) -> None:
    org_id, _, _ = await org_with(client, db)

    expect_problem(await client.delete(f"/orgs/{org_id}"), 401, "AUTHENTICATION_REQUIRED")


# ---- POST /orgs/{org_id}/transfer-ownership ------------------------------------------------------


@pytest.mark.parametrize("target_role", ["admin", "member", "viewer"])
async def test_transfer_makes_the_target_owner_and_the_caller_admin(
    client: Client, db: Pool, target_role: str
) -> None:
    org_id, owner, [target] = await org_with(client, db, target_role)

    member = expect_data(await transfer(client, owner, org_id, target.id))

    assert (member["user_id"], member["role"], member["username"]) == (target.id, "owner", target.username)
    assert await owner_ids(db, org_id) == {target.id}
    assert await role_in_db(db, org_id, owner.id) == "admin"
    # The new roles take effect at once: the old owner can no longer delete, the new one can.
    expect_problem(await client.delete(f"/orgs/{org_id}", headers=owner.headers), 403, "PERMISSION_DENIED")
    assert expect_data(await client.get(f"/orgs/{org_id}", headers=target.headers))["role"] == "owner"


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
async def test_only_an_owner_can_transfer(client: Client, db: Pool, role: str) -> None:
    org_id, owner, [user] = await org_with(client, db, role)

    expect_problem(await transfer(client, user, org_id, user.id), 403, "PERMISSION_DENIED")

    assert await owner_ids(db, org_id) == {owner.id}
    assert await role_in_db(db, org_id, user.id) == role


async def test_transfer_to_a_non_member_is_404(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    stranger = await signed_in_user(client)

    expect_problem(await transfer(client, owner, org_id, stranger.id), 404, "NOT_FOUND")
    expect_problem(await transfer(client, owner, org_id, str(uuid4())), 404, "NOT_FOUND")

    assert await owner_ids(db, org_id) == {owner.id}
    assert await role_in_db(db, org_id, stranger.id) is None


async def test_transfer_to_oneself_is_422(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)

    expect_problem(await transfer(client, owner, org_id, owner.id), 422, "VALIDATION_ERROR", path="$.user_id")

    assert await owner_ids(db, org_id) == {owner.id}


@pytest.mark.parametrize(
    "body", [{}, {"user_id": "not-a-uuid"}, {"user_id": None}], ids=["missing", "not-uuid", "null"]
)
async def test_transfer_validates_the_body(client: Client, db: Pool, body: dict[str, Any]) -> None:
    org_id, owner, _ = await org_with(client, db)

    expect_problem(
        await client.post(f"/orgs/{org_id}/transfer-ownership", json=body, headers=owner.headers),
        422,
        "VALIDATION_ERROR",
    )


async def test_transfer_rejects_unknown_fields(client: Client, db: Pool) -> None:
    org_id, owner, [member] = await org_with(client, db, "member")

    response = await client.post(
        f"/orgs/{org_id}/transfer-ownership",
        json={"user_id": member.id, "keep_owner": True},
        headers=owner.headers,
    )

    expect_problem(response, 422, "VALIDATION_ERROR")
    assert await owner_ids(db, org_id) == {owner.id}


async def test_transfer_to_a_co_owner_leaves_the_caller_admin(client: Client, db: Pool) -> None:
    org_id, owner, [co_owner] = await org_with(client, db, "owner")

    expect_data(await transfer(client, owner, org_id, co_owner.id))

    assert await owner_ids(db, org_id) == {co_owner.id}
    assert await role_in_db(db, org_id, owner.id) == "admin"


async def test_transfer_in_a_deleted_org_is_404(client: Client, db: Pool) -> None:
    org_id, owner, [member] = await org_with(client, db, "member")
    expect_no_content(await client.delete(f"/orgs/{org_id}", headers=owner.headers))

    expect_problem(await transfer(client, owner, org_id, member.id), 404, "NOT_FOUND")


async def test_a_rename_is_visible_on_the_next_read_through_the_cache(client: Client, app: Litestar) -> None:
    owner = await signed_in_user(client)
    org = await create_org(client, owner, name="Cached")
    url = f"/orgs/{org['id']}"
    cache = app.state["cache"]

    assert expect_data(await client.get(url, headers=owner.headers))["name"] == "Cached"
    hits = cache.stats.hits + cache.stats.local_hits
    assert expect_data(await client.get(url, headers=owner.headers))["name"] == "Cached"
    assert cache.stats.hits + cache.stats.local_hits == hits + 1  # the second read came from the cache

    expect_data(await client.patch(url, json={"name": "Renamed"}, headers=owner.headers))
    assert expect_data(await client.get(url, headers=owner.headers))["name"] == "Renamed"

    expect_no_content(await client.delete(url, headers=owner.headers))
    expect_problem(await client.get(url, headers=owner.headers), 404, "NOT_FOUND")
