"""Comments through HTTP: who writes, edits and deletes them, their oldest-first pages, and
posts.comment_count staying equal to the real number of comments, also under concurrency."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import pytest

from tests.factories import Client, expect_data, expect_no_content, expect_problem, signed_in_user
from tests.orgs.org_helpers_keys import create_key, key_headers
from tests.orgs.org_helpers_orgs import Pool, concurrently, org_with
from tests.posts.post_helpers import (
    IMPOSSIBLE_CURSORS,
    add_comment,
    all_pages,
    clustered_times,
    comment_counts,
    comment_url,
    comments_url,
    create_post,
    get_page,
    ids_of,
    insert_comments,
    oldest_first,
    post_url,
    problem_paths,
    raw_cursor,
)

COMMENT_FIELDS = {"id", "post_id", "author_id", "body", "created_at", "updated_at"}


async def _count_via_api(client: Client, org_id: str, post_id: str, headers: dict[str, str]) -> int:
    return expect_data(await client.get(post_url(org_id, post_id), headers=headers))["comment_count"]


# ---- create ----------------------------------------------------------------------------------


async def test_members_comment_on_a_post(client: Client, db: Pool) -> None:
    org_id, owner, [admin, member] = await org_with(client, db, "admin", "member")
    post = await create_post(client, org_id, member, published=True)

    created = []
    for user, text in ((member, "first"), (admin, "second\nline"), (owner, "third")):
        response = await client.post(
            comments_url(org_id, post["id"]), json={"body": text}, headers=user.headers
        )
        comment = expect_data(response, 201)
        assert comment.keys() == COMMENT_FIELDS
        assert (comment["post_id"], comment["author_id"], comment["body"]) == (post["id"], user.id, text)
        created.append(comment)

    rows = await db.fetch(
        "SELECT id, author_id, body, org_id FROM comments WHERE post_id = $1 ORDER BY created_at, id",
        UUID(post["id"]),
    )
    assert [(str(r["id"]), str(r["author_id"]), r["body"], str(r["org_id"])) for r in rows] == [
        (c["id"], c["author_id"], c["body"], org_id) for c in created
    ]
    assert await _count_via_api(client, org_id, post["id"], member.headers) == 3
    assert await comment_counts(db, post["id"]) == (3, 3)


async def test_viewers_and_api_keys_cannot_comment(client: Client, db: Pool) -> None:
    org_id, owner, [member, viewer] = await org_with(client, db, "member", "viewer")
    post = await create_post(client, org_id, member, published=True)
    url = comments_url(org_id, post["id"])
    key = (await create_key(client, org_id, owner, "admin"))["key"]

    expect_problem(
        await client.post(url, json={"body": "x"}, headers=viewer.headers), 403, "PERMISSION_DENIED"
    )
    for via in ("x-api-key", "bearer"):
        response = await client.post(url, json={"body": "x"}, headers=key_headers(key, via))
        expect_problem(response, 403, "PERMISSION_DENIED")
    stranger = await signed_in_user(client)
    expect_problem(await client.post(url, json={"body": "x"}, headers=stranger.headers), 404, "NOT_FOUND")
    assert await comment_counts(db, post["id"]) == (0, 0)


async def test_commenting_on_a_draft_you_cannot_see_is_404(client: Client, db: Pool) -> None:
    org_id, _, [admin, author, member] = await org_with(client, db, "admin", "member", "member")
    draft = await create_post(client, org_id, author)
    url = comments_url(org_id, draft["id"])

    expect_problem(await client.post(url, json={"body": "x"}, headers=member.headers), 404, "NOT_FOUND")
    expect_problem(await client.get(url, headers=member.headers), 404, "NOT_FOUND")
    # its author and admins see the draft, so they may comment on it
    await add_comment(client, org_id, draft["id"], author, "by author")
    await add_comment(client, org_id, draft["id"], admin, "by admin")
    assert await comment_counts(db, draft["id"]) == (2, 2)


async def test_commenting_on_an_unknown_post_is_404(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)

    response = await client.post(
        comments_url(org_id, "00000000-0000-0000-0000-000000000009"),
        json={"body": "x"},
        headers=owner.headers,
    )

    expect_problem(response, 404, "NOT_FOUND")
    assert await db.fetchval("SELECT count(*) FROM comments WHERE org_id = $1", UUID(org_id)) == 0


@pytest.mark.parametrize(
    ("body", "paths"),
    [
        pytest.param({"body": ""}, ["$.body"], id="empty"),
        pytest.param({"body": "x" * 10_001}, ["$.body"], id="too-long"),
        pytest.param({"body": "nul\x00"}, ["$.body"], id="nul"),
        pytest.param({"body": 7}, ["$.body"], id="number"),
        pytest.param({"body": None}, ["$.body"], id="null"),
        pytest.param({}, ["$"], id="missing"),
        pytest.param({"body": "ok", "post_id": "x"}, ["$"], id="unknown-field"),
    ],
)
async def test_comment_bodies_are_validated(
    client: Client, db: Pool, body: dict[str, Any], paths: list[str]
) -> None:
    org_id, owner, _ = await org_with(client, db)
    post = await create_post(client, org_id, owner, published=True)

    response = await client.post(comments_url(org_id, post["id"]), json=body, headers=owner.headers)

    expect_problem(response, 422, "VALIDATION_ERROR")
    assert problem_paths(response) == paths
    assert await comment_counts(db, post["id"]) == (0, 0)


async def test_comment_of_10000_characters_is_accepted(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    post = await create_post(client, org_id, owner, published=True)

    comment = await add_comment(client, org_id, post["id"], owner, "ü" * 10_000)

    assert comment["body"] == "ü" * 10_000


async def test_comment_needs_a_json_body(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    post = await create_post(client, org_id, owner, published=True)
    url = comments_url(org_id, post["id"])

    text = await client.post(
        url, content=b'{"body": "x"}', headers={**owner.headers, "Content-Type": "text/plain"}
    )
    empty = await client.post(url, content=b"", headers={**owner.headers, "Content-Type": "application/json"})

    expect_problem(text, 415, "UNSUPPORTED_MEDIA_TYPE")
    expect_problem(empty, 400, "MALFORMED_JSON")
    assert await comment_counts(db, post["id"]) == (0, 0)


# ---- list ------------------------------------------------------------------------------------


async def test_comments_are_listed_oldest_first_across_pages(client: Client, db: Pool) -> None:
    org_id, _, [member, viewer] = await org_with(client, db, "member", "viewer")
    post = await create_post(client, org_id, member, published=True)
    other = await create_post(client, org_id, member, published=True)
    times = clustered_times(17, 3)
    ids = await insert_comments(db, org_id, post["id"], member.id, times)
    await insert_comments(db, org_id, other["id"], member.id, times[:5])

    rows, pages = await all_pages(client, comments_url(org_id, post["id"]), viewer.headers, 5)

    assert ids_of(rows) == oldest_first(ids, times)
    assert pages == 4
    assert {row["post_id"] for row in rows} == {post["id"]}
    assert await comment_counts(db, post["id"]) == (17, 17)


async def test_new_comments_appear_on_later_pages_exactly_once(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    post = await create_post(client, org_id, owner, published=True)
    times = clustered_times(6, 2)
    ids = await insert_comments(db, org_id, post["id"], owner.id, times)
    url = comments_url(org_id, post["id"])

    first, meta = await get_page(client, url, owner.headers, limit=4)
    newer = [await add_comment(client, org_id, post["id"], owner, f"new {n}") for n in range(2)]
    rest, _ = await all_pages(client, url, owner.headers, 3, cursor=meta["next_cursor"])

    assert ids_of(first) + ids_of(rest) == [*oldest_first(ids, times), *ids_of(newer)]


async def test_comment_list_refuses_bad_parameters(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    post = await create_post(client, org_id, owner, published=True)
    url = comments_url(org_id, post["id"])

    expect_problem(
        await client.get(url, params={"cursor": "zzz"}, headers=owner.headers), 422, "INVALID_CURSOR"
    )
    for limit in (0, 101):
        response = await client.get(url, params={"limit": limit}, headers=owner.headers)
        expect_problem(response, 422, "VALIDATION_ERROR", path="limit")


@pytest.mark.parametrize("raw", IMPOSSIBLE_CURSORS)
async def test_a_comment_cursor_with_an_impossible_time_is_invalid(
    client: Client, db: Pool, raw: dict[str, str]
) -> None:
    org_id, owner, _ = await org_with(client, db)
    post = await create_post(client, org_id, owner, published=True)

    response = await client.get(
        comments_url(org_id, post["id"]), params={"cursor": raw_cursor(raw)}, headers=owner.headers
    )

    expect_problem(response, 422, "INVALID_CURSOR", path="cursor")


# ---- edit ------------------------------------------------------------------------------------


async def test_only_the_author_edits_a_comment(client: Client, db: Pool) -> None:
    org_id, owner, [admin, author, member, viewer] = await org_with(
        client, db, "admin", "member", "member", "viewer"
    )
    post = await create_post(client, org_id, owner, published=True)
    comment = await add_comment(client, org_id, post["id"], author, "original")
    url = comment_url(org_id, post["id"], comment["id"])

    for other in (admin, owner, member, viewer):
        response = await client.patch(url, json={"body": "hijacked"}, headers=other.headers)
        expect_problem(response, 403, "PERMISSION_DENIED")
    assert await db.fetchval("SELECT body FROM comments WHERE id = $1", UUID(comment["id"])) == "original"

    edited = expect_data(await client.patch(url, json={"body": "edited"}, headers=author.headers))

    assert edited["body"] == "edited"
    assert (edited["id"], edited["post_id"], edited["author_id"]) == (comment["id"], post["id"], author.id)
    assert edited["created_at"] == comment["created_at"]
    assert datetime.fromisoformat(edited["updated_at"]) > datetime.fromisoformat(comment["updated_at"])
    assert await db.fetchval("SELECT body FROM comments WHERE id = $1", UUID(comment["id"])) == "edited"
    assert await comment_counts(db, post["id"]) == (1, 1)


async def test_edit_validates_the_body(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    post = await create_post(client, org_id, owner, published=True)
    comment = await add_comment(client, org_id, post["id"], owner, "kept")
    url = comment_url(org_id, post["id"], comment["id"])

    for body in ({"body": ""}, {"body": None}, {"body": "x" * 10_001}, {"body": "ok", "extra": 1}):
        expect_problem(await client.patch(url, json=body, headers=owner.headers), 422, "VALIDATION_ERROR")
    assert await db.fetchval("SELECT body FROM comments WHERE id = $1", UUID(comment["id"])) == "kept"


async def test_a_comment_addressed_through_another_post_is_404(client: Client, db: Pool) -> None:
    org_id, owner, [author] = await org_with(client, db, "member")
    post_x = await create_post(client, org_id, author, published=True)
    post_y = await create_post(client, org_id, author, published=True)
    comment = await add_comment(client, org_id, post_x["id"], author, "on x")
    wrong = comment_url(org_id, post_y["id"], comment["id"])

    for user in (author, owner):
        expect_problem(
            await client.patch(wrong, json={"body": "moved?"}, headers=user.headers), 404, "NOT_FOUND"
        )
        expect_problem(await client.delete(wrong, headers=user.headers), 404, "NOT_FOUND")

    assert await db.fetchval("SELECT body FROM comments WHERE id = $1", UUID(comment["id"])) == "on x"
    assert await comment_counts(db, post_x["id"]) == (1, 1)
    assert await comment_counts(db, post_y["id"]) == (0, 0)


async def test_edit_or_delete_of_an_unknown_comment_is_404(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    post = await create_post(client, org_id, owner, published=True)
    url = comment_url(org_id, post["id"], "00000000-0000-0000-0000-00000000000c")

    expect_problem(await client.patch(url, json={"body": "x"}, headers=owner.headers), 404, "NOT_FOUND")
    expect_problem(await client.delete(url, headers=owner.headers), 404, "NOT_FOUND")


async def test_comments_of_a_hidden_draft_cannot_be_edited_or_deleted_by_others(
    client: Client, db: Pool
) -> None:
    org_id, _, [author, member] = await org_with(client, db, "member", "member")
    post = await create_post(client, org_id, author, published=True)
    comment = await add_comment(client, org_id, post["id"], member, "mine")
    # the post goes back to draft: the member no longer sees it, nor its comments
    expect_data(
        await client.patch(post_url(org_id, post["id"]), json={"published": False}, headers=author.headers)
    )
    url = comment_url(org_id, post["id"], comment["id"])

    expect_problem(await client.patch(url, json={"body": "x"}, headers=member.headers), 404, "NOT_FOUND")
    expect_problem(await client.delete(url, headers=member.headers), 404, "NOT_FOUND")
    assert await db.fetchval("SELECT body FROM comments WHERE id = $1", UUID(comment["id"])) == "mine"


# ---- delete ----------------------------------------------------------------------------------


async def test_author_or_admin_deletes_a_comment(client: Client, db: Pool) -> None:
    org_id, owner, [admin, author] = await org_with(client, db, "admin", "member")
    post = await create_post(client, org_id, owner, published=True)
    comments = [await add_comment(client, org_id, post["id"], author, f"c{n}") for n in range(4)]

    expect_no_content(
        await client.delete(comment_url(org_id, post["id"], comments[0]["id"]), headers=author.headers)
    )
    expect_no_content(
        await client.delete(comment_url(org_id, post["id"], comments[1]["id"]), headers=admin.headers)
    )
    expect_no_content(
        await client.delete(comment_url(org_id, post["id"], comments[2]["id"]), headers=owner.headers)
    )

    left, _ = await get_page(client, comments_url(org_id, post["id"]), author.headers)
    assert ids_of(left) == [comments[3]["id"]]
    assert await comment_counts(db, post["id"]) == (1, 1)
    assert await _count_via_api(client, org_id, post["id"], author.headers) == 1
    response = await client.delete(comment_url(org_id, post["id"], comments[0]["id"]), headers=author.headers)
    expect_problem(response, 404, "NOT_FOUND")
    assert await comment_counts(db, post["id"]) == (1, 1)


async def test_others_may_not_delete_a_comment(client: Client, db: Pool) -> None:
    org_id, _, [author, member, viewer] = await org_with(client, db, "member", "member", "viewer")
    post = await create_post(client, org_id, member, published=True)
    comment = await add_comment(client, org_id, post["id"], author)
    url = comment_url(org_id, post["id"], comment["id"])

    # not even the post's author may delete someone else's comment under it
    expect_problem(await client.delete(url, headers=member.headers), 403, "PERMISSION_DENIED")
    expect_problem(await client.delete(url, headers=viewer.headers), 403, "PERMISSION_DENIED")

    assert await comment_counts(db, post["id"]) == (1, 1)


# ---- comment_count ---------------------------------------------------------------------------


async def test_comment_count_follows_creates_and_deletes(client: Client, db: Pool) -> None:
    org_id, _, [alice, bob] = await org_with(client, db, "member", "member")
    post = await create_post(client, org_id, alice, published=True)
    other = await create_post(client, org_id, alice, published=True)

    made = []
    for n in range(5):
        made.append(await add_comment(client, org_id, post["id"], (alice, bob)[n % 2]))
        assert await comment_counts(db, post["id"]) == (n + 1, n + 1)
    await add_comment(client, org_id, other["id"], bob)
    for n, comment in enumerate(made[:3]):
        author = alice if comment["author_id"] == alice.id else bob
        expect_no_content(
            await client.delete(comment_url(org_id, post["id"], comment["id"]), headers=author.headers)
        )
        assert await comment_counts(db, post["id"]) == (4 - n, 4 - n)

    assert await _count_via_api(client, org_id, post["id"], bob.headers) == 2
    listed, _ = await get_page(client, "/orgs/" + org_id + "/posts", bob.headers)
    assert {row["id"]: row["comment_count"] for row in listed} == {post["id"]: 2, other["id"]: 1}
    assert await comment_counts(db, other["id"]) == (1, 1)


async def test_comment_count_is_exact_under_concurrent_writes(client: Client, db: Pool) -> None:
    org_id, owner, members = await org_with(client, db, "member", "member", "member", "member")
    post = await create_post(client, org_id, owner, published=True)
    url = comments_url(org_id, post["id"])
    doomed = [await add_comment(client, org_id, post["id"], owner, f"old {n}") for n in range(5)]

    creates = [("POST", url, members[n % 4], {"body": f"concurrent {n}"}) for n in range(20)]
    # five distinct deletes, and the first two of them sent twice at once (one wins, one 404s)
    deletes = [("DELETE", comment_url(org_id, post["id"], c["id"]), owner, None) for c in doomed]
    # and edits of the post itself, which rewrite the same row the trigger updates
    edits = [("PATCH", post_url(org_id, post["id"]), owner, {"title": f"edit {n}"}) for n in range(3)]
    responses = await concurrently(client, *creates, *deletes, *deletes[:2], *edits)

    assert [r.status_code for r in responses[:20]] == [201] * 20
    assert sorted(r.status_code for r in responses[20:27]) == [204] * 5 + [404] * 2
    assert [r.status_code for r in responses[27:]] == [200] * 3
    bodies = sorted(r.json()["data"]["body"] for r in responses[:20])
    assert bodies == sorted(f"concurrent {n}" for n in range(20))
    assert await comment_counts(db, post["id"]) == (20, 20)
    assert await _count_via_api(client, org_id, post["id"], owner.headers) == 20

    # and once more: twenty creates alone, truly at once
    again = await concurrently(
        client, *[("POST", url, members[n % 4], {"body": f"more {n}"}) for n in range(20)]
    )
    assert [r.status_code for r in again] == [201] * 20
    assert await comment_counts(db, post["id"]) == (40, 40)


async def test_concurrent_comments_on_several_posts_keep_each_count(client: Client, db: Pool) -> None:
    org_id, owner, [member] = await org_with(client, db, "member")
    posts = [await create_post(client, org_id, owner, published=True) for _ in range(3)]

    calls = [
        ("POST", comments_url(org_id, posts[n % 3]["id"]), (owner, member)[n % 2], {"body": "x"})
        for n in range(15)
    ]
    responses = await concurrently(client, *calls)

    assert [r.status_code for r in responses] == [201] * 15
    for post in posts:
        assert await comment_counts(db, post["id"]) == (5, 5)


async def test_comments_racing_a_post_deletion_leave_nothing_behind(client: Client, db: Pool) -> None:
    org_id, owner, [member] = await org_with(client, db, "member")
    post = await create_post(client, org_id, owner, published=True)
    await insert_comments(db, org_id, post["id"], member.id, clustered_times(10, 2))
    url = comments_url(org_id, post["id"])

    creates = [("POST", url, member, {"body": f"race {n}"}) for n in range(12)]
    responses = await concurrently(
        client, *creates[:6], ("DELETE", post_url(org_id, post["id"]), owner, None), *creates[6:]
    )

    statuses = [r.status_code for r in responses]
    assert statuses[6] == 204
    assert set(statuses[:6] + statuses[7:]) <= {201, 404}, statuses
    assert await comment_counts(db, post["id"]) == (None, 0)
    assert await db.fetchval("SELECT count(*) FROM comments WHERE org_id = $1", UUID(org_id)) == 0


async def test_deleting_a_post_deletes_its_comments(client: Client, db: Pool) -> None:
    org_id, _, [admin, author] = await org_with(client, db, "admin", "member")
    post = await create_post(client, org_id, author, published=True)
    kept = await create_post(client, org_id, author, published=True)
    await insert_comments(db, org_id, post["id"], author.id, clustered_times(30, 4))
    await add_comment(client, org_id, post["id"], admin)
    await add_comment(client, org_id, kept["id"], admin)
    assert await comment_counts(db, post["id"]) == (31, 31)

    expect_no_content(await client.delete(post_url(org_id, post["id"]), headers=admin.headers))

    assert await comment_counts(db, post["id"]) == (None, 0)
    assert await comment_counts(db, kept["id"]) == (1, 1)
    expect_problem(
        await client.get(comments_url(org_id, post["id"]), headers=author.headers), 404, "NOT_FOUND"
    )
