"""Posts and comments: who may read, write and moderate them, and their keyset-paginated lists.

Rules on top of the role permissions (docs/PERMISSIONS.md):
- posts and comments are written by people, so API keys may read them but not write them;
- a draft is visible to its author and to admins and owners (an admin API key reads drafts
  too, for previews, though keys never write posts);
- a post is edited or deleted by its author or an admin; a comment is edited by its author
  only, and deleted by its author or an admin.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from app.accounts.structs import PublicUserOut
from app.core.db import Connection, Database
from app.core.exceptions import NotFoundError, PermissionDeniedError
from app.core.ids import new_id
from app.core.pagination import cursor_time, decode_cursor, invalid_cursor, paginate
from app.orgs.actor import OrgActor
from app.orgs.permissions import Permission
from app.outbound.event_types import EventType
from app.outbound.events import emit
from app.posts import queries
from app.posts.queries import PostVisibility
from app.posts.structs import (
    ActivityOut,
    CommentIn,
    CommentOut,
    PostIn,
    PostOut,
    PostPatchIn,
    TimeCursor,
)

__all__ = ["PostsService"]

_NIL = UUID(int=0)
_NEWEST = (datetime(9999, 12, 31, tzinfo=UTC), _NIL)  # starts a newest-first scan
_OLDEST = (datetime(1, 1, 1, tzinfo=UTC), _NIL)  # starts an oldest-first scan


def _post_not_found() -> NotFoundError:
    return NotFoundError("No such post.")


def _comment_not_found() -> NotFoundError:
    return NotFoundError("No such comment.")


def _writer(actor: OrgActor) -> UUID:
    """The user behind a write: posts and comments have people as authors, not API keys."""
    if actor.user_id is None:
        raise PermissionDeniedError("API keys cannot write posts or comments; sign in as a user.")
    return actor.user_id


def _visibility(actor: OrgActor, published: bool | None = None) -> PostVisibility:
    return PostVisibility(
        viewer_id=actor.actor_id, all_drafts=actor.can(Permission.RESOURCES_EDIT_ANY), published=published
    )


def _can_see(actor: OrgActor, post: PostOut) -> bool:
    return post.published or post.author_id == actor.actor_id or actor.can(Permission.RESOURCES_EDIT_ANY)


def _start(cursor: str | None, default: tuple[datetime, UUID]) -> tuple[datetime, UUID]:
    after = decode_cursor(cursor, TimeCursor)
    if after is None:
        return default
    moment = cursor_time(after.t)
    if moment is None:
        raise invalid_cursor()
    return moment, after.i


def _cursor(row: PostOut | CommentOut) -> TimeCursor:
    return TimeCursor(t=row.created_at, i=row.id)


class PostsService:
    """One instance per process, created at start-up with the shared resources."""

    def __init__(self, *, db: Database) -> None:
        self._db = db

    # ---- posts -----------------------------------------------------------------------------

    async def create_post(self, actor: OrgActor, data: PostIn) -> PostOut:
        actor.require(Permission.RESOURCES_CREATE)
        author = _writer(actor)
        async with self._db.transaction() as conn:
            post = await queries.insert_post(
                conn,
                org_id=actor.org_id,
                post_id=new_id(),
                author_id=author,
                title=data.title,
                body=data.body,
                published=data.published,
            )
            if post.published:
                await emit(conn, actor.org_id, EventType.POST_PUBLISHED, [post])
        return post

    async def get_post(self, actor: OrgActor, post_id: UUID) -> PostOut:
        actor.require(Permission.RESOURCES_READ)
        async with self._db.connection() as conn:
            return await self._visible_post(conn, actor, post_id)

    async def list_posts(
        self,
        actor: OrgActor,
        *,
        author_id: UUID | None,
        published: bool | None,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[PostOut], str | None]:
        actor.require(Permission.RESOURCES_READ)
        start = _start(cursor, _NEWEST)
        async with self._db.connection() as conn:
            found = await queries.list_posts(
                conn,
                org_id=actor.org_id,
                author_id=author_id,
                start=start,
                visibility=_visibility(actor, published),
                limit=limit + 1,
            )
        return paginate(found, limit, _cursor)

    async def update_post(self, actor: OrgActor, post_id: UUID, data: PostPatchIn) -> PostOut:
        actor.require(Permission.RESOURCES_EDIT_OWN)
        _writer(actor)
        async with self._db.transaction() as conn:
            post = await self._visible_post(conn, actor, post_id)
            self._check_editor(actor, post)
            updated = await queries.update_post(
                conn,
                org_id=actor.org_id,
                post_id=post_id,
                title=data.title if isinstance(data.title, str) else None,
                body=data.body if isinstance(data.body, str) else None,
                published=data.published if isinstance(data.published, bool) else None,
            )
            if updated is not None and updated.published and not post.published:
                await emit(conn, actor.org_id, EventType.POST_PUBLISHED, [updated])
        if updated is None:
            raise _post_not_found()
        return updated

    async def delete_post(self, actor: OrgActor, post_id: UUID) -> None:
        actor.require(Permission.RESOURCES_EDIT_OWN)
        _writer(actor)
        async with self._db.connection() as conn:
            post = await self._visible_post(conn, actor, post_id)
            self._check_editor(actor, post)
            if not await queries.delete_post(conn, org_id=actor.org_id, post_id=post_id):
                raise _post_not_found()

    @staticmethod
    async def _visible_post(conn: Connection, actor: OrgActor, post_id: UUID) -> PostOut:
        post = await queries.get_post(conn, org_id=actor.org_id, post_id=post_id)
        if post is None or not _can_see(actor, post):
            raise _post_not_found()
        return post

    @staticmethod
    def _check_editor(actor: OrgActor, post: PostOut) -> None:
        if post.author_id != actor.actor_id and not actor.can(Permission.RESOURCES_EDIT_ANY):
            raise PermissionDeniedError("Only the author or an admin may change this post.")

    # ---- comments ----------------------------------------------------------------------------

    async def add_comment(self, actor: OrgActor, post_id: UUID, data: CommentIn) -> CommentOut:
        actor.require(Permission.RESOURCES_CREATE)
        author = _writer(actor)
        try:
            async with self._db.transaction() as conn:
                await self._visible_post(conn, actor, post_id)
                return await queries.insert_comment(
                    conn,
                    org_id=actor.org_id,
                    comment_id=new_id(),
                    post_id=post_id,
                    author_id=author,
                    body=data.body,
                )
        except asyncpg.ForeignKeyViolationError:  # the post was deleted a moment ago
            raise _post_not_found() from None

    async def list_comments(
        self, actor: OrgActor, post_id: UUID, *, cursor: str | None, limit: int
    ) -> tuple[list[CommentOut], str | None]:
        actor.require(Permission.RESOURCES_READ)
        start = _start(cursor, _OLDEST)
        async with self._db.connection() as conn:
            await self._visible_post(conn, actor, post_id)
            found = await queries.list_comments(
                conn, org_id=actor.org_id, post_id=post_id, start=start, limit=limit + 1
            )
        return paginate(found, limit, _cursor)

    async def edit_comment(
        self, actor: OrgActor, post_id: UUID, comment_id: UUID, data: CommentIn
    ) -> CommentOut:
        actor.require(Permission.RESOURCES_EDIT_OWN)
        author = _writer(actor)
        async with self._db.connection() as conn:
            comment = await self._comment_of(conn, actor, post_id, comment_id)
            if comment.author_id != author:
                raise PermissionDeniedError("Only its author may edit a comment.")
            updated = await queries.update_comment(
                conn, org_id=actor.org_id, comment_id=comment_id, body=data.body
            )
        if updated is None:
            raise _comment_not_found()
        return updated

    async def delete_comment(self, actor: OrgActor, post_id: UUID, comment_id: UUID) -> None:
        actor.require(Permission.RESOURCES_EDIT_OWN)
        author = _writer(actor)
        async with self._db.connection() as conn:
            comment = await self._comment_of(conn, actor, post_id, comment_id)
            if comment.author_id != author and not actor.can(Permission.RESOURCES_EDIT_ANY):
                raise PermissionDeniedError("Only its author or an admin may delete a comment.")
            if not await queries.delete_comment(conn, org_id=actor.org_id, comment_id=comment_id):
                raise _comment_not_found()

    async def _comment_of(
        self, conn: Connection, actor: OrgActor, post_id: UUID, comment_id: UUID
    ) -> CommentOut:
        """The comment, if it belongs to this post and the caller can see the post."""
        await self._visible_post(conn, actor, post_id)
        comment = await queries.get_comment(conn, org_id=actor.org_id, comment_id=comment_id)
        if comment is None or comment.post_id != post_id:
            raise _comment_not_found()
        return comment

    # ---- activity ------------------------------------------------------------------------------

    async def activity(self, user_id: UUID, org_id: UUID, *, limit: int) -> ActivityOut:
        """Profile, recent posts and recent comments: three reads on three connections at once."""

        async def profile() -> queries.MemberProfileRow | None:
            async with self._db.connection() as conn:
                return await queries.get_member_profile(conn, org_id=org_id, user_id=user_id)

        async def posts() -> list[PostOut]:
            async with self._db.connection() as conn:
                own = PostVisibility(viewer_id=user_id, all_drafts=False)
                return await queries.list_posts(
                    conn, org_id=org_id, author_id=user_id, start=_NEWEST, visibility=own, limit=limit
                )

        async def comments() -> list[CommentOut]:
            async with self._db.connection() as conn:
                return await queries.list_comments_by_author(
                    conn, org_id=org_id, author_id=user_id, limit=limit
                )

        person, recent_posts, recent_comments = await asyncio.gather(profile(), posts(), comments())
        if person is None or not person.is_member:
            raise NotFoundError("No such organization.")
        return ActivityOut(
            profile=PublicUserOut(
                id=person.id,
                username=person.username,
                display_name=person.display_name,
                bio=person.bio,
                avatar_url=person.avatar_url,
                created_at=person.created_at,
            ),
            recent_posts=recent_posts,
            recent_comments=recent_comments,
        )
