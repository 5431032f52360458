"""Helpers for the posts, comments and activity tests: URLs, creating posts and comments through
the API (or straight SQL when many rows are needed), following cursors, and database checks."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from app.core.ids import new_id
from tests.factories import Client, User, expect_data
from tests.orgs.org_helpers_orgs import Pool

Headers = dict[str, str]
# A fixed instant far in the past, so rows inserted with SQL sort before anything made by the API.
BASE_TIME = datetime(2020, 1, 1, tzinfo=UTC)


def posts_url(org_id: str) -> str:
    return f"/orgs/{org_id}/posts"


def post_url(org_id: str, post_id: str) -> str:
    return f"/orgs/{org_id}/posts/{post_id}"


def comments_url(org_id: str, post_id: str) -> str:
    return f"/orgs/{org_id}/posts/{post_id}/comments"


def comment_url(org_id: str, post_id: str, comment_id: str) -> str:
    return f"/orgs/{org_id}/posts/{post_id}/comments/{comment_id}"


async def create_post(client: Client, org_id: str, user: User, **fields: Any) -> dict[str, Any]:
    """Create a post through the API (title defaults to "Post"); its data."""
    body = {"title": "Post", **fields}
    return expect_data(await client.post(posts_url(org_id), json=body, headers=user.headers), 201)


async def add_comment(
    client: Client, org_id: str, post_id: str, user: User, body: str = "Nice"
) -> dict[str, Any]:
    response = await client.post(comments_url(org_id, post_id), json={"body": body}, headers=user.headers)
    return expect_data(response, 201)


async def insert_posts(
    db: Pool,
    org_id: str,
    author_id: str,
    times: list[datetime],
    *,
    published: bool = True,
) -> list[UUID]:
    """One post per entry of `times` (its created_at), straight into the table; their ids."""
    ids = [new_id() for _ in times]
    await db.executemany(
        "INSERT INTO posts (org_id, id, author_id, title, body, published, published_at, created_at)"
        " VALUES ($1, $2, $3, $4, '', $5, CASE WHEN $5 THEN $6::timestamptz END, $6)",
        [
            (UUID(org_id), post_id, UUID(author_id), f"bulk {n}", published, at)
            for n, (post_id, at) in enumerate(zip(ids, times, strict=True))
        ],
    )
    return ids


async def insert_comments(
    db: Pool, org_id: str, post_id: str, author_id: str, times: list[datetime]
) -> list[UUID]:
    """One comment per entry of `times` (its created_at), straight into the table; their ids."""
    ids = [new_id() for _ in times]
    await db.executemany(
        "INSERT INTO comments (org_id, id, post_id, author_id, body, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        [
            (UUID(org_id), comment_id, UUID(post_id), UUID(author_id), f"bulk {n}", at)
            for n, (comment_id, at) in enumerate(zip(ids, times, strict=True))
        ],
    )
    return ids


def clustered_times(count: int, per_instant: int, start: datetime = BASE_TIME) -> list[datetime]:
    """`count` timestamps, `per_instant` of them equal, so keyset order must fall back to the id."""
    return [start + timedelta(seconds=n // per_instant) for n in range(count)]


def newest_first(ids: list[UUID], times: list[datetime]) -> list[str]:
    """The ids in the list order of posts: created_at descending, then id descending."""
    return [str(i) for _, i in sorted(zip(times, ids, strict=True), reverse=True)]


def oldest_first(ids: list[UUID], times: list[datetime]) -> list[str]:
    """The ids in the list order of comments: created_at ascending, then id ascending."""
    return [str(i) for _, i in sorted(zip(times, ids, strict=True))]


async def get_page(
    client: Client, url: str, headers: Headers, **params: Any
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One page of a list: (data, meta)."""
    response = await client.get(url, params=params, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    return body["data"], body["meta"]


async def all_pages(
    client: Client, url: str, headers: Headers, limit: int, **params: Any
) -> tuple[list[dict[str, Any]], int]:
    """Every row of a cursor-paginated list, following meta.next_cursor; and the page count."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = {**params, "limit": limit} if cursor is None else {**params, "limit": limit, "cursor": cursor}
        data, meta = await get_page(client, url, headers, **query)
        pages += 1
        assert len(data) <= limit
        rows.extend(data)
        assert meta["has_more"] is (meta["next_cursor"] is not None)
        if not meta["has_more"]:
            return rows, pages
        assert len(data) == limit, "a page that is not the last must be full"
        cursor = meta["next_cursor"]
        assert pages < 100, "pagination does not terminate"


def ids_of(rows: list[dict[str, Any]]) -> list[str]:
    return [row["id"] for row in rows]


async def post_row(db: Pool, post_id: str) -> Any:
    return await db.fetchrow(
        "SELECT org_id, author_id, title, body, published, published_at, comment_count"
        " FROM posts WHERE id = $1",
        UUID(post_id),
    )


async def comment_counts(db: Pool, post_id: str) -> tuple[int | None, int]:
    """(posts.comment_count, the real number of the post's comments)."""
    column = await db.fetchval("SELECT comment_count FROM posts WHERE id = $1", UUID(post_id))
    real = await db.fetchval("SELECT count(*) FROM comments WHERE post_id = $1", UUID(post_id))
    return column, real


def problem_paths(response: httpx.Response) -> list[str]:
    return sorted(error["path"] for error in response.json().get("errors", []))


def raw_cursor(key: dict[str, str]) -> str:
    """A cursor holding `key` as its JSON (how a client could tamper with one)."""
    return base64.urlsafe_b64encode(json.dumps(key).encode()).rstrip(b"=").decode()


# Well-formed cursors whose time no row can have: outside years 1..9999 once taken to UTC.
IMPOSSIBLE_CURSORS = [
    pytest.param({"t": "0001-01-01T00:00:00+01:00", "i": str(UUID(int=0))}, id="before-year-1"),
    pytest.param({"t": "9999-12-31T23:59:59-01:00", "i": str(UUID(int=0))}, id="after-year-9999"),
]
