"""Request and response bodies of posts, comments and the activity feed."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from app.accounts.structs import PublicUserOut

Title = Annotated[
    str,
    msgspec.Meta(
        min_length=1, max_length=300, pattern=r"^[^\x00-\x1f\x7f]+$(?!\n)", examples=["Launch notes"]
    ),
]
PostBody = Annotated[str, msgspec.Meta(max_length=100_000, pattern=r"^[^\x00]*$(?!\n)")]
CommentBody = Annotated[str, msgspec.Meta(min_length=1, max_length=10_000, pattern=r"^[^\x00]*$(?!\n)")]


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of request bodies: unknown fields are refused."""


class PostIn(Input):
    title: Title
    body: PostBody = ""
    published: bool = False


class PostPatchIn(Input):
    """Fields left out stay as they are. Publishing stamps `published_at` once."""

    title: Title | msgspec.UnsetType = msgspec.UNSET
    body: PostBody | msgspec.UnsetType = msgspec.UNSET
    published: bool | msgspec.UnsetType = msgspec.UNSET


class CommentIn(Input):
    body: CommentBody


class PostOut(msgspec.Struct, kw_only=True):
    id: UUID
    author_id: UUID
    title: str
    body: str
    published: bool
    published_at: datetime | None
    # Kept by the database in the transaction of each comment write (see migration 0003).
    comment_count: int
    created_at: datetime
    updated_at: datetime


class CommentOut(msgspec.Struct, kw_only=True):
    id: UUID
    post_id: UUID
    author_id: UUID
    body: str
    created_at: datetime
    updated_at: datetime


class MemberProfileRow(msgspec.Struct, kw_only=True):
    id: UUID
    username: str
    display_name: str | None
    bio: str | None
    avatar_url: str | None
    created_at: datetime
    is_member: bool


class ActivityOut(msgspec.Struct, kw_only=True):
    """The caller's profile and their most recent posts and comments in one org."""

    profile: PublicUserOut
    recent_posts: list[PostOut]
    recent_comments: list[CommentOut]


class TimeCursor(msgspec.Struct, kw_only=True):
    """The (created_at, id) of a page's last row."""

    t: datetime
    i: UUID
