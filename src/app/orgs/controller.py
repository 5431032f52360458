"""HTTP routes of the organizations feature: decode, call one service method, wrap the envelope.

Routes under ``/orgs/{org_id}`` declare ``opt=requires(permission)``: the app's before_request
hook authenticates the caller (user token or API key) and checks their role in that org before
the body is read (app.orgs.auth).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter

from app.accounts.auth import BEARER_SECURITY, principal_dependency, user_service
from app.accounts.service import Principal
from app.core.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, page_meta
from app.core.responses import Envelope, create_success_response, problem_responses
from app.idempotency.middleware import IDEMPOTENT
from app.orgs.actor import OrgActor
from app.orgs.audit import AuditLogService
from app.orgs.auth import ORG_ACTOR, ORG_SECURITY, org_service, requires
from app.orgs.invitations import InvitationsService
from app.orgs.key_management import ApiKeysService
from app.orgs.permissions import Permission
from app.orgs.service import OrgsService
from app.orgs.structs import (
    ApiKeyCreatedOut,
    ApiKeyIn,
    ApiKeyOut,
    AuditEventOut,
    InvitationAcceptIn,
    InvitationIn,
    InvitationOut,
    MemberOut,
    MemberPatchIn,
    OrgCreateIn,
    OrgOut,
    OrgPatchIn,
    TransferOwnershipIn,
)

__all__ = [
    "ApiKeysController",
    "AuditController",
    "InvitationAcceptController",
    "InvitationsController",
    "MembersController",
    "OrgsController",
]


def _service(name: str) -> Provide:
    def provide(request: Request[Any, Any, Any]) -> Any:
        return request.app.state[name]

    return Provide(provide, sync_to_thread=False)


_ORG_ROUTE = {"actor": ORG_ACTOR, "orgs": org_service("orgs")}
# Every org route can answer these: no or bad credentials, not allowed, not in this org.
_GUARDED = (401, 403, 404)
_BODY = (400, 413, 415, 422)

ActionQuery = Annotated[
    str | None,
    QueryParameter(
        name="action", max_length=64, pattern=r"^[a-z_]+\.[a-z_]+$", description="e.g. member.role_changed"
    ),
]
ActorQuery = Annotated[
    UUID | None, QueryParameter(name="actor_id", description="A user id or an API key id.")
]
SinceQuery = Annotated[
    datetime | None, QueryParameter(name="since", description="Events at or after this time (ISO 8601).")
]
UntilQuery = Annotated[
    datetime | None, QueryParameter(name="until", description="Events before this time (ISO 8601).")
]


class OrgsController(Controller):
    path = "/orgs"
    tags = ["organizations"]
    dependencies = {"orgs": _service("orgs"), "accounts": _service("accounts")}

    @post(
        "",
        status_code=201,
        summary="Create an organization; the caller becomes its owner",
        dependencies={"principal": principal_dependency, "orgs": user_service("orgs")},
        security=BEARER_SECURITY,
        **IDEMPOTENT,
        responses=problem_responses(401, 409, *_BODY),
    )
    async def create_org(
        self,
        data: JSONBody[OrgCreateIn],
        orgs: NamedDependency[OrgsService],
        principal: NamedDependency[Principal],
    ) -> Response[Envelope[OrgOut]]:
        return create_success_response(await orgs.create_org(principal.user_id, data), status_code=201)

    @get(
        "",
        summary="The organizations the caller belongs to, with the caller's role",
        dependencies={"principal": principal_dependency, "orgs": user_service("orgs")},
        security=BEARER_SECURITY,
        responses=problem_responses(400, 401, 422),
    )
    async def list_orgs(
        self,
        orgs: NamedDependency[OrgsService],
        principal: NamedDependency[Principal],
        cursor: CursorQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> Response[Envelope[list[OrgOut]]]:
        found, next_cursor = await orgs.list_orgs(principal.user_id, cursor=cursor, limit=limit)
        return create_success_response(found, meta=page_meta(next_cursor))

    @get(
        "/{org_id:uuid}",
        summary="One organization",
        opt=requires(Permission.ORG_READ),
        dependencies=_ORG_ROUTE,
        security=ORG_SECURITY,
        responses=problem_responses(400, *_GUARDED),
    )
    async def get_org(
        self, orgs: NamedDependency[OrgsService], actor: NamedDependency[OrgActor]
    ) -> Response[Envelope[OrgOut]]:
        return create_success_response(await orgs.get_org(actor))

    @patch(
        "/{org_id:uuid}",
        summary="Rename an organization or change its slug (owner, admin)",
        opt=requires(Permission.ORG_UPDATE),
        dependencies=_ORG_ROUTE,
        security=ORG_SECURITY,
        responses=problem_responses(*_GUARDED, 409, *_BODY),
    )
    async def update_org(
        self, data: JSONBody[OrgPatchIn], orgs: NamedDependency[OrgsService], actor: NamedDependency[OrgActor]
    ) -> Response[Envelope[OrgOut]]:
        return create_success_response(await orgs.update_org(actor, data))

    @delete(
        "/{org_id:uuid}",
        status_code=204,
        summary="Delete an organization (owner)",
        description="Soft delete: the org disappears for everyone and its API keys stop working at once.",
        opt=requires(Permission.ORG_DELETE, users_only=True),
        dependencies=_ORG_ROUTE,
        security=ORG_SECURITY,
        responses=problem_responses(400, *_GUARDED),
    )
    async def delete_org(self, orgs: NamedDependency[OrgsService], actor: NamedDependency[OrgActor]) -> None:
        await orgs.delete_org(actor)

    @post(
        "/{org_id:uuid}/transfer-ownership",
        status_code=200,
        summary="Make another member an owner and step down to admin (owner)",
        opt=requires(Permission.ORG_TRANSFER, users_only=True),
        dependencies=_ORG_ROUTE,
        security=ORG_SECURITY,
        responses=problem_responses(*_GUARDED, *_BODY),
    )
    async def transfer_ownership(
        self,
        data: JSONBody[TransferOwnershipIn],
        orgs: NamedDependency[OrgsService],
        actor: NamedDependency[OrgActor],
    ) -> Response[Envelope[MemberOut]]:
        return create_success_response(await orgs.transfer_ownership(actor, data.user_id))

    @post(
        "/{org_id:uuid}/leave",
        status_code=204,
        summary="Leave an organization",
        description="The last owner cannot leave (409 LAST_OWNER): make someone else an owner first.",
        opt=requires(Permission.ORG_READ, users_only=True),
        dependencies=_ORG_ROUTE,
        security=ORG_SECURITY,
        responses=problem_responses(400, *_GUARDED, 409),
    )
    async def leave(self, orgs: NamedDependency[OrgsService], actor: NamedDependency[OrgActor]) -> None:
        await orgs.leave(actor)


class MembersController(Controller):
    path = "/orgs/{org_id:uuid}/members"
    tags = ["members"]
    dependencies = _ORG_ROUTE
    security = ORG_SECURITY

    @get(
        "",
        summary="Members of the organization",
        opt=requires(Permission.MEMBERS_READ),
        responses=problem_responses(400, *_GUARDED, 422),
    )
    async def list_members(
        self,
        orgs: NamedDependency[OrgsService],
        actor: NamedDependency[OrgActor],
        cursor: CursorQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> Response[Envelope[list[MemberOut]]]:
        found, next_cursor = await orgs.list_members(actor, cursor=cursor, limit=limit)
        return create_success_response(found, meta=page_meta(next_cursor))

    @patch(
        "/{user_id:uuid}",
        summary="Change a member's role (owner, admin; only owners grant or touch the owner role)",
        opt=requires(Permission.MEMBERS_MANAGE),
        responses=problem_responses(*_GUARDED, 409, *_BODY),
    )
    async def change_role(
        self,
        user_id: FromPath[UUID],
        data: JSONBody[MemberPatchIn],
        orgs: NamedDependency[OrgsService],
        actor: NamedDependency[OrgActor],
    ) -> Response[Envelope[MemberOut]]:
        return create_success_response(await orgs.change_role(actor, user_id, data.role))

    @delete(
        "/{user_id:uuid}",
        status_code=204,
        summary="Remove a member (owner, admin; only owners remove owners)",
        opt=requires(Permission.MEMBERS_MANAGE),
        responses=problem_responses(400, *_GUARDED, 409),
    )
    async def remove_member(
        self, user_id: FromPath[UUID], orgs: NamedDependency[OrgsService], actor: NamedDependency[OrgActor]
    ) -> None:
        await orgs.remove_member(actor, user_id)


class InvitationsController(Controller):
    path = "/orgs/{org_id:uuid}/invitations"
    tags = ["invitations"]
    dependencies = {"invitations": org_service("invitations"), "actor": ORG_ACTOR}
    security = ORG_SECURITY

    @post(
        "",
        status_code=201,
        summary="Invite an email address with a role (owner, admin)",
        description="Inviting an address again refreshes its open invitation: a new link, role and expiry.",
        opt=requires(Permission.INVITATIONS_MANAGE, users_only=True),
        **IDEMPOTENT,
        responses=problem_responses(*_GUARDED, 409, *_BODY),
    )
    async def invite(
        self,
        data: JSONBody[InvitationIn],
        invitations: NamedDependency[InvitationsService],
        actor: NamedDependency[OrgActor],
    ) -> Response[Envelope[InvitationOut]]:
        return create_success_response(await invitations.invite(actor, data), status_code=201)

    @get(
        "",
        summary="Open invitations (expired ones are flagged)",
        opt=requires(Permission.INVITATIONS_MANAGE, users_only=True),
        responses=problem_responses(400, *_GUARDED, 422),
    )
    async def list_invitations(
        self,
        invitations: NamedDependency[InvitationsService],
        actor: NamedDependency[OrgActor],
        cursor: CursorQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> Response[Envelope[list[InvitationOut]]]:
        found, next_cursor = await invitations.list_open(actor, cursor=cursor, limit=limit)
        return create_success_response(found, meta=page_meta(next_cursor))

    @delete(
        "/{invitation_id:uuid}",
        status_code=204,
        summary="Revoke an open invitation",
        opt=requires(Permission.INVITATIONS_MANAGE, users_only=True),
        responses=problem_responses(400, *_GUARDED),
    )
    async def revoke_invitation(
        self,
        invitation_id: FromPath[UUID],
        invitations: NamedDependency[InvitationsService],
        actor: NamedDependency[OrgActor],
    ) -> None:
        await invitations.revoke(actor, invitation_id)


class InvitationAcceptController(Controller):
    path = "/invitations"
    tags = ["invitations"]
    dependencies = {
        "invitations": user_service("invitations"),
        "accounts": _service("accounts"),
        "principal": principal_dependency,
    }
    security = BEARER_SECURITY

    @post(
        "/accept",
        status_code=200,
        summary="Join an organization with the token from an invitation email",
        description="The caller's email address must be verified and equal to the invited address.",
        responses=problem_responses(401, 403, 409, *_BODY),
    )
    async def accept(
        self,
        data: JSONBody[InvitationAcceptIn],
        invitations: NamedDependency[InvitationsService],
        principal: NamedDependency[Principal],
    ) -> Response[Envelope[OrgOut]]:
        return create_success_response(await invitations.accept(principal.user_id, data.token))


class ApiKeysController(Controller):
    path = "/orgs/{org_id:uuid}/api-keys"
    tags = ["api keys"]
    dependencies = {"api_key_admin": org_service("api_key_admin"), "actor": ORG_ACTOR}
    security = ORG_SECURITY

    @post(
        "",
        status_code=201,
        summary="Create an API key (owner, admin; signed in as a user)",
        description="The response carries the key (sk_<prefix>_<secret>) once; it cannot be shown again.",
        opt=requires(Permission.API_KEYS_MANAGE, users_only=True),
        **IDEMPOTENT,
        responses=problem_responses(*_GUARDED, *_BODY, 409),
    )
    async def create_key(
        self,
        data: JSONBody[ApiKeyIn],
        api_key_admin: NamedDependency[ApiKeysService],
        actor: NamedDependency[OrgActor],
    ) -> Response[Envelope[ApiKeyCreatedOut]]:
        return create_success_response(await api_key_admin.create(actor, data), status_code=201)

    @get(
        "",
        summary="The organization's API keys (never their secrets)",
        opt=requires(Permission.API_KEYS_MANAGE, users_only=True),
        responses=problem_responses(400, *_GUARDED, 422),
    )
    async def list_keys(
        self,
        api_key_admin: NamedDependency[ApiKeysService],
        actor: NamedDependency[OrgActor],
        cursor: CursorQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> Response[Envelope[list[ApiKeyOut]]]:
        found, next_cursor = await api_key_admin.list_keys(actor, cursor=cursor, limit=limit)
        return create_success_response(found, meta=page_meta(next_cursor))

    @delete(
        "/{key_id:uuid}",
        status_code=204,
        summary="Revoke an API key",
        description="Refused at once here, and by every worker within API_KEY_CACHE_SECONDS.",
        opt=requires(Permission.API_KEYS_MANAGE, users_only=True),
        responses=problem_responses(400, *_GUARDED),
    )
    async def revoke_key(
        self,
        key_id: FromPath[UUID],
        api_key_admin: NamedDependency[ApiKeysService],
        actor: NamedDependency[OrgActor],
    ) -> None:
        await api_key_admin.revoke(actor, key_id)


class AuditController(Controller):
    path = "/orgs/{org_id:uuid}/audit"
    tags = ["audit"]
    dependencies = {"audit": org_service("audit"), "actor": ORG_ACTOR}
    security = ORG_SECURITY

    @get(
        "",
        summary="The organization's audit log, newest first (owner, admin)",
        description="Filter by actor (user or API key id), action, and time range [since, until).",
        opt=requires(Permission.AUDIT_READ),
        responses=problem_responses(400, *_GUARDED, 422),
    )
    async def list_events(
        self,
        audit: NamedDependency[AuditLogService],
        actor: NamedDependency[OrgActor],
        actor_id: ActorQuery = None,
        action: ActionQuery = None,
        since: SinceQuery = None,
        until: UntilQuery = None,
        cursor: CursorQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> Response[Envelope[list[AuditEventOut]]]:
        found, next_cursor = await audit.list_events(
            actor, actor_id=actor_id, action=action, since=since, until=until, cursor=cursor, limit=limit
        )
        return create_success_response(found, meta=page_meta(next_cursor))
