"""Typed functions over the named SQL in `sql/posts/`: the only place this feature runs SQL."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from app.core.db import Connection, row_or_none, rows, sql
from app.posts.structs import CommentOut, MemberProfileRow, PostOut


def _q():  # noqa: ANN202 - aiosql namespace, dynamically typed
    return sql().posts


class PostVisibility(msgspec.Struct, frozen=True, kw_only=True):
    """Which drafts a reader sees: their own, or all (editors of any post)."""

    viewer_id: UUID
    all_drafts: bool
    published: bool | None = None


# ---- posts -----------------------------------------------------------------------------------


async def get_post(conn: Connection, *, org_id: UUID, post_id: UUID) -> PostOut | None:
    return row_or_none(await _q().get_post(conn, org_id=org_id, id=post_id), PostOut)


async def insert_post(
    conn: Connection, *, org_id: UUID, post_id: UUID, author_id: UUID, title: str, body: str, published: bool
) -> PostOut:
    record = await _q().insert_post(
        conn, org_id=org_id, id=post_id, author_id=author_id, title=title, body=body, published=published
    )
    return msgspec.convert(record, PostOut)


async def update_post(
    conn: Connection,
    *,
    org_id: UUID,
    post_id: UUID,
    title: str | None,
    body: str | None,
    published: bool | None,
) -> PostOut | None:
    """None leaves a field as it is."""
    record = await _q().update_post(
        conn,
        org_id=org_id,
        id=post_id,
        set_title=title is not None,
        title=title,
        set_body=body is not None,
        body=body,
        set_published=published is not None,
        published=published,
    )
    return row_or_none(record, PostOut)


async def delete_post(conn: Connection, *, org_id: UUID, post_id: UUID) -> bool:
    return await _q().delete_post(conn, org_id=org_id, id=post_id) is not None


async def list_posts(
    conn: Connection,
    *,
    org_id: UUID,
    author_id: UUID | None,
    start: tuple[datetime, UUID],
    visibility: PostVisibility,
    limit: int,
) -> list[PostOut]:
    common = {
        "org_id": org_id,
        "start_key": start[0],
        "start_id": start[1],
        "viewer_id": visibility.viewer_id,
        "all_drafts": visibility.all_drafts,
        "published": visibility.published,
        "limit": limit,
    }
    if author_id is None:
        return await rows(_q().list_posts(conn, **common), PostOut)
    return await rows(_q().list_posts_by_author(conn, author_id=author_id, **common), PostOut)


# ---- comments ------------------------------------------------------------------------------


async def get_comment(conn: Connection, *, org_id: UUID, comment_id: UUID) -> CommentOut | None:
    return row_or_none(await _q().get_comment(conn, org_id=org_id, id=comment_id), CommentOut)


async def insert_comment(
    conn: Connection, *, org_id: UUID, comment_id: UUID, post_id: UUID, author_id: UUID, body: str
) -> CommentOut:
    record = await _q().insert_comment(
        conn, org_id=org_id, id=comment_id, post_id=post_id, author_id=author_id, body=body
    )
    return msgspec.convert(record, CommentOut)


async def update_comment(conn: Connection, *, org_id: UUID, comment_id: UUID, body: str) -> CommentOut | None:
    return row_or_none(await _q().update_comment(conn, org_id=org_id, id=comment_id, body=body), CommentOut)


async def delete_comment(conn: Connection, *, org_id: UUID, comment_id: UUID) -> bool:
    return await _q().delete_comment(conn, org_id=org_id, id=comment_id) is not None


async def list_comments(
    conn: Connection, *, org_id: UUID, post_id: UUID, start: tuple[datetime, UUID], limit: int
) -> list[CommentOut]:
    return await rows(
        _q().list_comments(
            conn, org_id=org_id, post_id=post_id, start_key=start[0], start_id=start[1], limit=limit
        ),
        CommentOut,
    )


async def list_comments_by_author(
    conn: Connection, *, org_id: UUID, author_id: UUID, limit: int
) -> list[CommentOut]:
    return await rows(
        _q().list_comments_by_author(conn, org_id=org_id, author_id=author_id, limit=limit), CommentOut
    )


async def get_member_profile(conn: Connection, *, org_id: UUID, user_id: UUID) -> MemberProfileRow | None:
    return row_or_none(await _q().get_member_profile(conn, org_id=org_id, user_id=user_id), MemberProfileRow)
