"""Posts through HTTP: create and validation, drafts and who sees them, keyset lists and their
filters, editing and publishing, deleting, API keys (read only) and isolation between orgs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from app.core.pagination import encode_cursor
from app.posts.structs import TimeCursor
from tests.factories import Client, expect_data, expect_no_content, expect_problem, signed_in_user
from tests.orgs.org_helpers_keys import BOTH_WAYS, Via, create_key, key_headers
from tests.orgs.org_helpers_orgs import Pool, org_with
from tests.posts.post_helpers import (
    BASE_TIME,
    IMPOSSIBLE_CURSORS,
    add_comment,
    all_pages,
    clustered_times,
    comment_url,
    comments_url,
    create_post,
    get_page,
    ids_of,
    insert_posts,
    newest_first,
    post_row,
    post_url,
    posts_url,
    problem_paths,
    raw_cursor,
)

POST_FIELDS = {
    "id",
    "author_id",
    "title",
    "body",
    "published",
    "published_at",
    "comment_count",
    "created_at",
    "updated_at",
}


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


# ---- create ----------------------------------------------------------------------------------


async def test_create_published_post(client: Client, db: Pool) -> None:
    org_id, _, [member] = await org_with(client, db, "member")

    response = await client.post(
        posts_url(org_id),
        json={"title": "Launch notes", "body": "We ship on Monday.", "published": True},
        headers=member.headers,
    )

    post = expect_data(response, 201)
    assert post.keys() == POST_FIELDS
    assert post["author_id"] == member.id
    assert (post["title"], post["body"], post["published"]) == ("Launch notes", "We ship on Monday.", True)
    assert post["comment_count"] == 0
    assert post["published_at"] is not None
    assert _at(post["published_at"]) >= _at(post["created_at"]) - timedelta(seconds=1)
    row = await post_row(db, post["id"])
    assert str(row["org_id"]) == org_id
    assert (row["title"], row["published"], row["comment_count"]) == ("Launch notes", True, 0)
    assert row["published_at"] == _at(post["published_at"])


async def test_create_defaults_to_an_empty_draft(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)

    post = await create_post(client, org_id, owner, title="Idea")

    assert (post["title"], post["body"], post["published"], post["published_at"]) == ("Idea", "", False, None)
    row = await post_row(db, post["id"])
    assert (row["published"], row["published_at"]) == (False, None)


async def test_title_of_300_characters_is_accepted(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)

    post = await create_post(client, org_id, owner, title="é" * 300, body="line one\nline two\ttabbed")

    assert post["title"] == "é" * 300
    assert post["body"] == "line one\nline two\ttabbed"


@pytest.mark.parametrize(
    ("body", "paths"),
    [
        pytest.param({"title": ""}, ["$.title"], id="empty-title"),
        pytest.param({"title": "x" * 301}, ["$.title"], id="title-too-long"),
        pytest.param({"title": "a\nb"}, ["$.title"], id="title-newline"),
        pytest.param({"title": "title\n"}, ["$.title"], id="title-trailing-newline"),
        pytest.param({"title": "tab\there"}, ["$.title"], id="title-tab"),
        pytest.param({"title": "del\x7f"}, ["$.title"], id="title-del"),
        pytest.param({"title": "nul\x00"}, ["$.title"], id="title-nul"),
        pytest.param({"title": "ok", "body": "nul\x00"}, ["$.body"], id="body-nul"),
        pytest.param({"title": "ok", "body": "x" * 100_001}, ["$.body"], id="body-too-long"),
        pytest.param({"title": 5}, ["$.title"], id="title-number"),
        pytest.param({"title": None}, ["$.title"], id="title-null"),
        pytest.param({"title": "ok", "body": None}, ["$.body"], id="body-null"),
        pytest.param({"title": "ok", "published": "yes"}, ["$.published"], id="published-string"),
        pytest.param({"title": "ok", "published": 1}, ["$.published"], id="published-int"),
        pytest.param({"title": "ok", "published": "true"}, ["$.published"], id="published-true-string"),
        pytest.param({"body": "no title"}, ["$"], id="missing-title"),
        pytest.param({"title": "ok", "author_id": "x"}, ["$"], id="unknown-field"),
        pytest.param(["title"], ["$"], id="array"),
    ],
)
async def test_create_refuses_invalid_bodies(client: Client, db: Pool, body: Any, paths: list[str]) -> None:
    org_id, owner, _ = await org_with(client, db)

    response = await client.post(posts_url(org_id), json=body, headers=owner.headers)

    expect_problem(response, 422, "VALIDATION_ERROR")
    assert problem_paths(response) == paths
    assert await db.fetchval("SELECT count(*) FROM posts WHERE org_id = $1", UUID(org_id)) == 0


async def test_create_needs_a_json_body(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    url = posts_url(org_id)
    json_type = {**owner.headers, "Content-Type": "application/json"}

    form = await client.post(url, data={"title": "a"}, headers=owner.headers)
    text = await client.post(
        url, content=b'{"title": "a"}', headers={**owner.headers, "Content-Type": "text/plain"}
    )
    malformed = await client.post(url, content=b'{"title": "a",', headers=json_type)
    empty = await client.post(url, content=b"", headers=json_type)
    not_utf8 = await client.post(url, content=b'{"title": "\xff"}', headers=json_type)

    expect_problem(form, 415, "UNSUPPORTED_MEDIA_TYPE")
    expect_problem(text, 415, "UNSUPPORTED_MEDIA_TYPE")
    expect_problem(malformed, 400, "MALFORMED_JSON")
    expect_problem(empty, 400, "MALFORMED_JSON")
    expect_problem(not_utf8, 400, "MALFORMED_JSON")
    assert await db.fetchval("SELECT count(*) FROM posts WHERE org_id = $1", UUID(org_id)) == 0


async def test_create_is_for_members_and_up(client: Client, db: Pool) -> None:
    org_id, owner, [admin, member, viewer] = await org_with(client, db, "admin", "member", "viewer")
    stranger = await signed_in_user(client)

    for writer in (owner, admin, member):
        assert (await create_post(client, org_id, writer))["author_id"] == writer.id
    expect_problem(
        await client.post(posts_url(org_id), json={"title": "a"}, headers=viewer.headers),
        403,
        "PERMISSION_DENIED",
    )
    expect_problem(
        await client.post(posts_url(org_id), json={"title": "a"}, headers=stranger.headers), 404, "NOT_FOUND"
    )
    expect_problem(await client.post(posts_url(org_id), json={"title": "a"}), 401, "AUTHENTICATION_REQUIRED")
    assert await db.fetchval("SELECT count(*) FROM posts WHERE org_id = $1", UUID(org_id)) == 3


# ---- get and drafts --------------------------------------------------------------------------


async def test_get_a_published_post_as_any_member(client: Client, db: Pool) -> None:
    org_id, owner, [member, viewer] = await org_with(client, db, "member", "viewer")
    post = await create_post(client, org_id, member, title="Hello", body="World", published=True)

    for reader in (owner, member, viewer):
        assert expect_data(await client.get(post_url(org_id, post["id"]), headers=reader.headers)) == post


async def test_get_an_unknown_post_is_404(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)

    response = await client.get(
        post_url(org_id, "00000000-0000-0000-0000-000000000001"), headers=owner.headers
    )

    expect_problem(response, 404, "NOT_FOUND")


async def test_a_draft_is_seen_by_its_author_and_admins_only(client: Client, db: Pool) -> None:
    org_id, owner, [admin, author, member, viewer] = await org_with(
        client, db, "admin", "member", "member", "viewer"
    )
    draft = await create_post(client, org_id, author, title="Secret")
    url = post_url(org_id, draft["id"])

    for reader in (author, admin, owner):
        assert expect_data(await client.get(url, headers=reader.headers))["id"] == draft["id"]
    for other in (member, viewer):
        expect_problem(await client.get(url, headers=other.headers), 404, "NOT_FOUND")
        listed, _ = await get_page(client, posts_url(org_id), other.headers)
        assert listed == []
        expect_problem(
            await client.get(comments_url(org_id, draft["id"]), headers=other.headers), 404, "NOT_FOUND"
        )
    for reader in (author, admin, owner):
        listed, _ = await get_page(client, posts_url(org_id), reader.headers)
        assert ids_of(listed) == [draft["id"]]


# ---- lists -----------------------------------------------------------------------------------


async def test_list_is_newest_first_and_pages_visit_each_post_once(client: Client, db: Pool) -> None:
    org_id, owner, [member] = await org_with(client, db, "member")
    # 23 posts, three at each instant: the order within an instant is the id's.
    times = clustered_times(23, 3)
    ids = await insert_posts(db, org_id, member.id, times)

    rows, pages = await all_pages(client, posts_url(org_id), owner.headers, 5)

    assert ids_of(rows) == newest_first(ids, times)
    assert pages == 5
    first, meta = await get_page(client, posts_url(org_id), owner.headers)
    assert len(first) == 20
    assert meta["has_more"] is True


async def test_pages_stay_exact_when_posts_arrive_between_fetches(client: Client, db: Pool) -> None:
    org_id, owner, [member] = await org_with(client, db, "member")
    times = clustered_times(12, 2)
    ids = await insert_posts(db, org_id, member.id, times)
    expected = newest_first(ids, times)
    url = posts_url(org_id)

    first, meta = await get_page(client, url, owner.headers, limit=4)
    # Newer posts (before the cursor) are not shown by the next pages; an older one is, once.
    newer = [await create_post(client, org_id, member, published=True) for _ in range(3)]
    older_time = BASE_TIME - timedelta(days=1)
    [older] = await insert_posts(db, org_id, member.id, [older_time])
    second, meta2 = await get_page(client, url, owner.headers, limit=4, cursor=meta["next_cursor"])
    newer.append(await create_post(client, org_id, member, published=True))
    rest, _ = await all_pages(client, url, owner.headers, 100, cursor=meta2["next_cursor"])

    seen = ids_of(first) + ids_of(second) + ids_of(rest)
    assert seen == [*expected, str(older)]
    assert len(set(seen)) == len(seen)
    assert not set(ids_of(newer)) & set(seen)
    fresh, _ = await get_page(client, url, owner.headers, limit=4)
    assert ids_of(fresh) == ids_of(list(reversed(newer)))


async def test_list_shows_only_this_orgs_visible_posts_with_drafts_for_their_author(
    client: Client, db: Pool
) -> None:
    org_id, owner, [admin, alice, bob, viewer] = await org_with(
        client, db, "admin", "member", "member", "viewer"
    )
    other_org, other_owner, _ = await org_with(client, db)
    await create_post(client, other_org, other_owner, published=True)
    a_pub = await create_post(client, org_id, alice, title="a pub", published=True)
    a_draft = await create_post(client, org_id, alice, title="a draft")
    b_pub = await create_post(client, org_id, bob, title="b pub", published=True)
    b_draft = await create_post(client, org_id, bob, title="b draft")
    url = posts_url(org_id)

    async def listed(user: Any, **params: Any) -> list[str]:
        rows, _ = await all_pages(client, url, user.headers, 100, **params)
        return ids_of(rows)

    everything = [b_draft["id"], b_pub["id"], a_draft["id"], a_pub["id"]]
    assert await listed(alice) == [b_pub["id"], a_draft["id"], a_pub["id"]]
    assert await listed(bob) == [b_draft["id"], b_pub["id"], a_pub["id"]]
    assert await listed(viewer) == [b_pub["id"], a_pub["id"]]
    assert await listed(admin) == everything
    assert await listed(owner) == everything
    # published=true / false
    assert await listed(alice, published="true") == [b_pub["id"], a_pub["id"]]
    assert await listed(alice, published="false") == [a_draft["id"]]
    assert await listed(viewer, published="false") == []
    assert await listed(admin, published="false") == [b_draft["id"], a_draft["id"]]
    # author_id, alone and with published
    assert await listed(alice, author_id=bob.id) == [b_pub["id"]]
    assert await listed(alice, author_id=alice.id) == [a_draft["id"], a_pub["id"]]
    assert await listed(admin, author_id=bob.id) == [b_draft["id"], b_pub["id"]]
    assert await listed(admin, author_id=bob.id, published="false") == [b_draft["id"]]
    assert await listed(bob, author_id=alice.id, published="false") == []
    assert await listed(alice, author_id=viewer.id) == []


async def test_author_filter_pages_through_one_authors_posts(client: Client, db: Pool) -> None:
    org_id, owner, [alice, bob] = await org_with(client, db, "member", "member")
    times = clustered_times(11, 2)
    alice_ids = await insert_posts(db, org_id, alice.id, times)
    await insert_posts(db, org_id, bob.id, times)

    rows, pages = await all_pages(client, posts_url(org_id), owner.headers, 3, author_id=alice.id)

    assert ids_of(rows) == newest_first(alice_ids, times)
    assert pages == 4


async def test_published_filter_pages_through_published_posts(client: Client, db: Pool) -> None:
    org_id, _, [alice, bob] = await org_with(client, db, "member", "member")
    pub_times = clustered_times(9, 2)
    published = await insert_posts(db, org_id, alice.id, pub_times)
    await insert_posts(db, org_id, alice.id, clustered_times(9, 3), published=False)

    rows, _ = await all_pages(client, posts_url(org_id), bob.headers, 4, published="true")
    drafts, _ = await all_pages(client, posts_url(org_id), alice.headers, 4, published="false")

    assert ids_of(rows) == newest_first(published, pub_times)
    assert len(drafts) == 9
    assert all(row["published"] is False for row in drafts)


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("not-a-cursor!", id="garbage"),
        pytest.param("eyJ0IjoxfQ", id="wrong-shape"),
        pytest.param(encode_cursor(TimeCursor(t=BASE_TIME, i=UUID(int=1)))[:-3], id="truncated"),
        pytest.param("%%%", id="not-base64"),
    ],
)
async def test_a_bad_cursor_is_422(client: Client, db: Pool, cursor: str) -> None:
    org_id, owner, _ = await org_with(client, db)

    response = await client.get(posts_url(org_id), params={"cursor": cursor}, headers=owner.headers)

    problem = expect_problem(response, 422, "INVALID_CURSOR", path="cursor")
    assert problem["errors"][0]["location"] == "query"


@pytest.mark.parametrize("raw", IMPOSSIBLE_CURSORS)
async def test_a_cursor_with_an_impossible_time_is_invalid(
    client: Client, db: Pool, raw: dict[str, str]
) -> None:
    org_id, owner, _ = await org_with(client, db)

    response = await client.get(posts_url(org_id), params={"cursor": raw_cursor(raw)}, headers=owner.headers)

    expect_problem(response, 422, "INVALID_CURSOR", path="cursor")


async def test_a_cursor_without_an_offset_is_read_as_utc(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    times = [BASE_TIME + timedelta(hours=n) for n in range(3)]
    ids = await insert_posts(db, org_id, owner.id, times)
    naive = raw_cursor({"t": "2020-01-01T02:00:00", "i": str(ids[2])})

    rows, _ = await get_page(client, posts_url(org_id), owner.headers, cursor=naive)

    assert ids_of(rows) == [str(ids[1]), str(ids[0])]


@pytest.mark.parametrize(
    ("params", "path"),
    [
        pytest.param({"limit": 0}, "limit", id="limit-0"),
        pytest.param({"limit": 101}, "limit", id="limit-101"),
        pytest.param({"limit": "ten"}, "limit", id="limit-text"),
        pytest.param({"published": "maybe"}, "published", id="published-text"),
        pytest.param({"author_id": "nobody"}, "author_id", id="author-not-uuid"),
        pytest.param({"cursor": "a" * 513}, "cursor", id="cursor-too-long"),
    ],
)
async def test_list_refuses_bad_parameters(
    client: Client, db: Pool, params: dict[str, Any], path: str
) -> None:
    org_id, owner, _ = await org_with(client, db)

    response = await client.get(posts_url(org_id), params=params, headers=owner.headers)

    expect_problem(response, 422, "VALIDATION_ERROR", path=path)


async def test_list_limit_bounds_are_inclusive(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    times = clustered_times(101, 1)
    ids = await insert_posts(db, org_id, owner.id, times)

    one, meta_one = await get_page(client, posts_url(org_id), owner.headers, limit=1)
    hundred, meta_hundred = await get_page(client, posts_url(org_id), owner.headers, limit=100)

    assert ids_of(one) == newest_first(ids, times)[:1]
    assert meta_one["has_more"] is True
    assert ids_of(hundred) == newest_first(ids, times)[:100]
    last, meta_last = await get_page(
        client, posts_url(org_id), owner.headers, limit=100, cursor=meta_hundred["next_cursor"]
    )
    assert ids_of(last) == newest_first(ids, times)[100:]
    assert meta_last == {"next_cursor": None, "has_more": False}


# ---- patch and publishing --------------------------------------------------------------------


async def test_author_and_admins_edit_a_post(client: Client, db: Pool) -> None:
    org_id, owner, [admin, author] = await org_with(client, db, "admin", "member")
    post = await create_post(client, org_id, author, title="v1", body="b1")
    url = post_url(org_id, post["id"])

    by_author = expect_data(await client.patch(url, json={"title": "v2"}, headers=author.headers))
    by_admin = expect_data(await client.patch(url, json={"body": "b3"}, headers=admin.headers))
    by_owner = expect_data(await client.patch(url, json={"title": "v4"}, headers=owner.headers))

    assert (by_author["title"], by_author["body"]) == ("v2", "b1")
    assert (by_admin["title"], by_admin["body"]) == ("v2", "b3")
    assert (by_owner["title"], by_owner["body"], by_owner["published"]) == ("v4", "b3", False)
    assert by_owner["author_id"] == author.id
    assert _at(by_owner["updated_at"]) > _at(post["updated_at"])
    assert by_owner["created_at"] == post["created_at"]
    row = await post_row(db, post["id"])
    assert (row["title"], row["body"], row["published"]) == ("v4", "b3", False)


async def test_others_may_not_edit_a_post(client: Client, db: Pool) -> None:
    org_id, _, [author, member, viewer] = await org_with(client, db, "member", "member", "viewer")
    post = await create_post(client, org_id, author, title="mine", published=True)
    draft = await create_post(client, org_id, author, title="draft")
    stranger = await signed_in_user(client)
    url = post_url(org_id, post["id"])

    expect_problem(
        await client.patch(url, json={"title": "x"}, headers=member.headers), 403, "PERMISSION_DENIED"
    )
    expect_problem(
        await client.patch(url, json={"title": "x"}, headers=viewer.headers), 403, "PERMISSION_DENIED"
    )
    expect_problem(await client.patch(url, json={"title": "x"}, headers=stranger.headers), 404, "NOT_FOUND")
    # a draft the member cannot see does not exist for them
    expect_problem(
        await client.patch(post_url(org_id, draft["id"]), json={"title": "x"}, headers=member.headers),
        404,
        "NOT_FOUND",
    )
    assert (await post_row(db, post["id"]))["title"] == "mine"
    assert (await post_row(db, draft["id"]))["title"] == "draft"


@pytest.mark.parametrize(
    ("body", "paths"),
    [
        pytest.param({"title": ""}, ["$.title"], id="empty-title"),
        pytest.param({"title": None}, ["$.title"], id="null-title"),
        pytest.param({"title": "x" * 301}, ["$.title"], id="long-title"),
        pytest.param({"title": "a\rb"}, ["$.title"], id="control-char"),
        pytest.param({"published": "yes"}, ["$.published"], id="published-string"),
        pytest.param({"published": "true"}, ["$.published"], id="published-true-string"),
        pytest.param({"published": 0}, ["$.published"], id="published-int"),
        pytest.param({"published": None}, ["$.published"], id="published-null"),
        pytest.param({"comment_count": 5}, ["$"], id="unknown-field"),
    ],
)
async def test_patch_refuses_invalid_bodies(
    client: Client, db: Pool, body: dict[str, Any], paths: list[str]
) -> None:
    org_id, owner, _ = await org_with(client, db)
    post = await create_post(client, org_id, owner, title="kept")

    response = await client.patch(post_url(org_id, post["id"]), json=body, headers=owner.headers)

    expect_problem(response, 422, "VALIDATION_ERROR")
    assert problem_paths(response) == paths
    row = await post_row(db, post["id"])
    assert (row["title"], row["published"], row["comment_count"]) == ("kept", False, 0)


async def test_patch_needs_a_json_body(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    post = await create_post(client, org_id, owner)
    url = post_url(org_id, post["id"])

    text = await client.patch(url, content=b"{}", headers={**owner.headers, "Content-Type": "text/plain"})
    malformed = await client.patch(
        url, content=b"{", headers={**owner.headers, "Content-Type": "application/json"}
    )

    expect_problem(text, 415, "UNSUPPORTED_MEDIA_TYPE")
    expect_problem(malformed, 400, "MALFORMED_JSON")


async def test_publishing_stamps_published_at_once_and_unpublishing_clears_it(
    client: Client, db: Pool
) -> None:
    org_id, _, [author] = await org_with(client, db, "member")
    post = await create_post(client, org_id, author)
    url = post_url(org_id, post["id"])

    published = expect_data(await client.patch(url, json={"published": True}, headers=author.headers))
    stamp = published["published_at"]
    assert published["published"] is True
    assert stamp is not None
    again = expect_data(
        await client.patch(url, json={"published": True, "title": "t2"}, headers=author.headers)
    )
    edited = expect_data(await client.patch(url, json={"body": "more"}, headers=author.headers))
    assert again["published_at"] == stamp
    assert edited["published_at"] == stamp
    assert edited["published"] is True
    assert (await post_row(db, post["id"]))["published_at"] == _at(stamp)

    unpublished = expect_data(await client.patch(url, json={"published": False}, headers=author.headers))
    assert (unpublished["published"], unpublished["published_at"]) == (False, None)
    row = await post_row(db, post["id"])
    assert (row["published"], row["published_at"]) == (False, None)

    republished = expect_data(await client.patch(url, json={"published": True}, headers=author.headers))
    assert republished["published_at"] is not None
    assert _at(republished["published_at"]) > _at(stamp)


async def test_a_post_created_published_keeps_its_stamp(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    post = await create_post(client, org_id, owner, published=True)

    again = expect_data(
        await client.patch(post_url(org_id, post["id"]), json={"published": True}, headers=owner.headers)
    )

    assert again["published_at"] == post["published_at"]


# ---- delete ----------------------------------------------------------------------------------


async def test_author_deletes_a_post_with_its_comments(client: Client, db: Pool) -> None:
    org_id, _, [author, member] = await org_with(client, db, "member", "member")
    post = await create_post(client, org_id, author, published=True)
    kept = await create_post(client, org_id, author, published=True)
    for user in (author, member, member):
        await add_comment(client, org_id, post["id"], user)
    kept_comment = await add_comment(client, org_id, kept["id"], member)

    expect_no_content(await client.delete(post_url(org_id, post["id"]), headers=author.headers))

    assert await post_row(db, post["id"]) is None
    assert await db.fetchval("SELECT count(*) FROM comments WHERE post_id = $1", UUID(post["id"])) == 0
    expect_problem(await client.get(post_url(org_id, post["id"]), headers=author.headers), 404, "NOT_FOUND")
    expect_problem(
        await client.delete(post_url(org_id, post["id"]), headers=author.headers), 404, "NOT_FOUND"
    )
    comments = await db.fetch("SELECT id FROM comments WHERE post_id = $1", UUID(kept["id"]))
    assert [str(row["id"]) for row in comments] == [kept_comment["id"]]
    assert (await post_row(db, kept["id"]))["comment_count"] == 1


async def test_admin_deletes_a_members_post(client: Client, db: Pool) -> None:
    org_id, owner, [admin, author] = await org_with(client, db, "admin", "member")
    draft = await create_post(client, org_id, author)
    published = await create_post(client, org_id, author, published=True)
    await add_comment(client, org_id, published["id"], author)

    expect_no_content(await client.delete(post_url(org_id, draft["id"]), headers=admin.headers))
    expect_no_content(await client.delete(post_url(org_id, published["id"]), headers=owner.headers))

    assert await db.fetchval("SELECT count(*) FROM posts WHERE org_id = $1", UUID(org_id)) == 0
    assert await db.fetchval("SELECT count(*) FROM comments WHERE org_id = $1", UUID(org_id)) == 0


async def test_others_may_not_delete_a_post(client: Client, db: Pool) -> None:
    org_id, _, [author, member, viewer] = await org_with(client, db, "member", "member", "viewer")
    post = await create_post(client, org_id, author, published=True)
    await add_comment(client, org_id, post["id"], member)
    url = post_url(org_id, post["id"])

    expect_problem(await client.delete(url, headers=member.headers), 403, "PERMISSION_DENIED")
    expect_problem(await client.delete(url, headers=viewer.headers), 403, "PERMISSION_DENIED")

    row = await post_row(db, post["id"])
    assert row is not None
    assert row["comment_count"] == 1


# ---- API keys --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "member", "admin"])
async def test_api_keys_read_published_posts(client: Client, db: Pool, role: str) -> None:
    org_id, owner, [author] = await org_with(client, db, "member")
    key = (await create_key(client, org_id, owner, role))["key"]
    post = await create_post(client, org_id, author, title="public", published=True)
    comment = await add_comment(client, org_id, post["id"], author)

    for via in BOTH_WAYS:
        headers = key_headers(key, via)
        listed, _ = await get_page(client, posts_url(org_id), headers, published="true")
        assert ids_of(listed) == [post["id"]]
        got = expect_data(await client.get(post_url(org_id, post["id"]), headers=headers))
        assert got == {**post, "comment_count": 1}
        comments, _ = await get_page(client, comments_url(org_id, post["id"]), headers)
        assert ids_of(comments) == [comment["id"]]


@pytest.mark.parametrize("role", ["viewer", "member"])
async def test_api_keys_below_admin_do_not_see_drafts(client: Client, db: Pool, role: str) -> None:
    org_id, owner, [author] = await org_with(client, db, "member")
    headers = key_headers((await create_key(client, org_id, owner, role))["key"])
    draft = await create_post(client, org_id, author)

    expect_problem(await client.get(post_url(org_id, draft["id"]), headers=headers), 404, "NOT_FOUND")
    listed, _ = await get_page(client, posts_url(org_id), headers)
    assert listed == []


@pytest.mark.parametrize("role", ["viewer", "member", "admin"])
@pytest.mark.parametrize("via", BOTH_WAYS)
async def test_api_keys_cannot_write_posts_or_comments(client: Client, db: Pool, role: str, via: Via) -> None:
    org_id, owner, [author] = await org_with(client, db, "member")
    headers = key_headers((await create_key(client, org_id, owner, role))["key"], via)
    post = await create_post(client, org_id, author, title="t", published=True)
    comment = await add_comment(client, org_id, post["id"], author, "c")
    pid, cid = post["id"], comment["id"]

    attempts = [
        await client.post(posts_url(org_id), json={"title": "by key"}, headers=headers),
        await client.patch(post_url(org_id, pid), json={"title": "by key"}, headers=headers),
        await client.delete(post_url(org_id, pid), headers=headers),
        await client.post(comments_url(org_id, pid), json={"body": "by key"}, headers=headers),
        await client.patch(comment_url(org_id, pid, cid), json={"body": "by key"}, headers=headers),
        await client.delete(comment_url(org_id, pid, cid), headers=headers),
    ]

    for response in attempts:
        expect_problem(response, 403, "PERMISSION_DENIED")
    assert [str(r["id"]) for r in await db.fetch("SELECT id FROM posts WHERE org_id = $1", UUID(org_id))] == [
        pid
    ]
    row = await post_row(db, pid)
    assert (row["title"], row["comment_count"]) == ("t", 1)
    assert await db.fetchval("SELECT body FROM comments WHERE id = $1", UUID(cid)) == "c"


# ---- isolation between orgs ------------------------------------------------------------------


async def test_an_org_member_cannot_reach_another_orgs_posts(client: Client, db: Pool) -> None:
    org_a, _, [member_a] = await org_with(client, db, "admin")
    org_b, owner_b, _ = await org_with(client, db)
    post_b = await create_post(client, org_b, owner_b, title="B only", published=True)
    comment_b = await add_comment(client, org_b, post_b["id"], owner_b, "B comment")
    key_a = key_headers((await create_key(client, org_a, member_a, "admin"))["key"])
    pid, cid = post_b["id"], comment_b["id"]

    for headers in (member_a.headers, key_a):
        # B's ids through A's path: no such post
        expect_problem(await client.get(post_url(org_a, pid), headers=headers), 404, "NOT_FOUND")
        expect_problem(await client.get(comments_url(org_a, pid), headers=headers), 404, "NOT_FOUND")
        # B's paths: no such org
        expect_problem(await client.get(posts_url(org_b), headers=headers), 404, "NOT_FOUND")
        expect_problem(await client.get(post_url(org_b, pid), headers=headers), 404, "NOT_FOUND")
        expect_problem(await client.get(comments_url(org_b, pid), headers=headers), 404, "NOT_FOUND")
    writes = [
        await client.patch(post_url(org_a, pid), json={"title": "x"}, headers=member_a.headers),
        await client.delete(post_url(org_a, pid), headers=member_a.headers),
        await client.post(comments_url(org_a, pid), json={"body": "x"}, headers=member_a.headers),
        await client.patch(comment_url(org_a, pid, cid), json={"body": "x"}, headers=member_a.headers),
        await client.delete(comment_url(org_a, pid, cid), headers=member_a.headers),
        await client.post(posts_url(org_b), json={"title": "x"}, headers=member_a.headers),
        await client.patch(post_url(org_b, pid), json={"title": "x"}, headers=member_a.headers),
        await client.delete(post_url(org_b, pid), headers=member_a.headers),
        await client.post(comments_url(org_b, pid), json={"body": "x"}, headers=member_a.headers),
        await client.delete(comment_url(org_b, pid, cid), headers=member_a.headers),
    ]
    for response in writes:
        expect_problem(response, 404, "NOT_FOUND")
    listed, _ = await get_page(client, posts_url(org_a), member_a.headers)
    assert listed == []
    row = await post_row(db, pid)
    assert (str(row["org_id"]), row["title"], row["comment_count"]) == (org_b, "B only", 1)
    assert await db.fetchval("SELECT body FROM comments WHERE id = $1", UUID(cid)) == "B comment"
    assert await db.fetchval("SELECT count(*) FROM posts WHERE org_id = $1", UUID(org_a)) == 0
