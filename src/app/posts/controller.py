"""HTTP routes of posts and comments (``/orgs/{org_id}/posts``) and of ``/users/me/activity``."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, Response, delete, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter

from app.accounts.auth import BEARER_SECURITY, principal_dependency, provide_accounts, user_service
from app.accounts.service import Principal
from app.core.exceptions import ValidationError
from app.core.openapi import required_query
from app.core.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, page_meta
from app.core.responses import Envelope, create_success_response, problem_responses
from app.idempotency.middleware import IDEMPOTENT
from app.orgs.actor import OrgActor
from app.orgs.auth import ORG_ACTOR, ORG_SECURITY, org_service, requires
from app.orgs.permissions import Permission
from app.posts.service import PostsService
from app.posts.structs import ActivityOut, CommentIn, CommentOut, PostIn, PostOut, PostPatchIn

__all__ = ["ActivityController", "PostsController"]

_GUARDED = (401, 403, 404)
_BODY = (400, 413, 415, 422)

AuthorQuery = Annotated[
    UUID | None, QueryParameter(name="author_id", description="Posts of this author only.")
]
PublishedQuery = Annotated[
    bool | None, QueryParameter(name="published", description="true: published only; false: drafts only.")
]
# Optional in the signature so that the caller is authenticated (401) before a missing org_id
# is reported (422): query parameters are checked before dependencies run.
OrgQuery = Annotated[
    UUID | None, QueryParameter(name="org_id", description="Required: the organization of the activity.")
]
RecentQuery = Annotated[
    int, QueryParameter(name="limit", ge=1, le=50, description="How many recent posts and comments, 1..50.")
]


class PostsController(Controller):
    path = "/orgs/{org_id:uuid}/posts"
    tags = ["posts"]
    dependencies = {"posts": org_service("posts"), "actor": ORG_ACTOR}
    security = ORG_SECURITY

    @post(
        "",
        status_code=201,
        summary="Write a post (members; people only, not API keys)",
        opt=requires(Permission.RESOURCES_CREATE, users_only=True),
        **IDEMPOTENT,
        responses=problem_responses(*_GUARDED, *_BODY, 409),
    )
    async def create_post(
        self, data: JSONBody[PostIn], posts: NamedDependency[PostsService], actor: NamedDependency[OrgActor]
    ) -> Response[Envelope[PostOut]]:
        return create_success_response(await posts.create_post(actor, data), status_code=201)

    @get(
        "",
        summary="Posts, newest first (drafts: your own; admins see all)",
        opt=requires(Permission.RESOURCES_READ),
        responses=problem_responses(400, *_GUARDED, 422),
    )
    async def list_posts(
        self,
        posts: NamedDependency[PostsService],
        actor: NamedDependency[OrgActor],
        author_id: AuthorQuery = None,
        published: PublishedQuery = None,
        cursor: CursorQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> Response[Envelope[list[PostOut]]]:
        found, next_cursor = await posts.list_posts(
            actor, author_id=author_id, published=published, cursor=cursor, limit=limit
        )
        return create_success_response(found, meta=page_meta(next_cursor))

    @get(
        "/{post_id:uuid}",
        summary="One post",
        opt=requires(Permission.RESOURCES_READ),
        responses=problem_responses(400, *_GUARDED),
    )
    async def get_post(
        self, post_id: FromPath[UUID], posts: NamedDependency[PostsService], actor: NamedDependency[OrgActor]
    ) -> Response[Envelope[PostOut]]:
        return create_success_response(await posts.get_post(actor, post_id))

    @patch(
        "/{post_id:uuid}",
        summary="Change a post (its author, or an admin)",
        opt=requires(Permission.RESOURCES_EDIT_OWN, users_only=True),
        responses=problem_responses(*_GUARDED, *_BODY),
    )
    async def update_post(
        self,
        post_id: FromPath[UUID],
        data: JSONBody[PostPatchIn],
        posts: NamedDependency[PostsService],
        actor: NamedDependency[OrgActor],
    ) -> Response[Envelope[PostOut]]:
        return create_success_response(await posts.update_post(actor, post_id, data))

    @delete(
        "/{post_id:uuid}",
        status_code=204,
        summary="Delete a post and its comments (its author, or an admin)",
        opt=requires(Permission.RESOURCES_EDIT_OWN, users_only=True),
        responses=problem_responses(400, *_GUARDED),
    )
    async def delete_post(
        self, post_id: FromPath[UUID], posts: NamedDependency[PostsService], actor: NamedDependency[OrgActor]
    ) -> None:
        await posts.delete_post(actor, post_id)

    @post(
        "/{post_id:uuid}/comments",
        status_code=201,
        summary="Comment on a post (members; people only)",
        opt=requires(Permission.RESOURCES_CREATE, users_only=True),
        **IDEMPOTENT,
        responses=problem_responses(*_GUARDED, *_BODY, 409),
    )
    async def add_comment(
        self,
        post_id: FromPath[UUID],
        data: JSONBody[CommentIn],
        posts: NamedDependency[PostsService],
        actor: NamedDependency[OrgActor],
    ) -> Response[Envelope[CommentOut]]:
        return create_success_response(await posts.add_comment(actor, post_id, data), status_code=201)

    @get(
        "/{post_id:uuid}/comments",
        summary="A post's comments, oldest first",
        opt=requires(Permission.RESOURCES_READ),
        responses=problem_responses(400, *_GUARDED, 422),
    )
    async def list_comments(
        self,
        post_id: FromPath[UUID],
        posts: NamedDependency[PostsService],
        actor: NamedDependency[OrgActor],
        cursor: CursorQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> Response[Envelope[list[CommentOut]]]:
        found, next_cursor = await posts.list_comments(actor, post_id, cursor=cursor, limit=limit)
        return create_success_response(found, meta=page_meta(next_cursor))

    @patch(
        "/{post_id:uuid}/comments/{comment_id:uuid}",
        summary="Edit a comment (its author only)",
        opt=requires(Permission.RESOURCES_EDIT_OWN, users_only=True),
        responses=problem_responses(*_GUARDED, *_BODY),
    )
    async def edit_comment(
        self,
        post_id: FromPath[UUID],
        comment_id: FromPath[UUID],
        data: JSONBody[CommentIn],
        posts: NamedDependency[PostsService],
        actor: NamedDependency[OrgActor],
    ) -> Response[Envelope[CommentOut]]:
        return create_success_response(await posts.edit_comment(actor, post_id, comment_id, data))

    @delete(
        "/{post_id:uuid}/comments/{comment_id:uuid}",
        status_code=204,
        summary="Delete a comment (its author, or an admin)",
        opt=requires(Permission.RESOURCES_EDIT_OWN, users_only=True),
        responses=problem_responses(400, *_GUARDED),
    )
    async def delete_comment(
        self,
        post_id: FromPath[UUID],
        comment_id: FromPath[UUID],
        posts: NamedDependency[PostsService],
        actor: NamedDependency[OrgActor],
    ) -> None:
        await posts.delete_comment(actor, post_id, comment_id)


class ActivityController(Controller):
    path = "/users/me/activity"
    tags = ["users"]
    dependencies = {
        "posts": user_service("posts"),
        "accounts": Provide(provide_accounts, sync_to_thread=False),
        "principal": principal_dependency,
    }
    security = BEARER_SECURITY

    @get(
        "",
        summary="Your profile, recent posts and recent comments in one organization",
        description="The three reads run at once, one round trip each. 404 if you are not a member.",
        responses=problem_responses(400, 401, 404, 422),
        operation_class=required_query("org_id"),
    )
    async def activity(
        self,
        posts: NamedDependency[PostsService],
        principal: NamedDependency[Principal],
        org_id: OrgQuery = None,
        limit: RecentQuery = 10,
    ) -> Response[Envelope[ActivityOut]]:
        if org_id is None:
            raise ValidationError.missing_parameter("org_id")
        return create_success_response(await posts.activity(principal.user_id, org_id, limit=limit))
