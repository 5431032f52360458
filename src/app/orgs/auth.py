"""Access to org-scoped routes: who is calling, in which org, allowed to do what.

Each route under ``/orgs/{org_id}`` declares what it needs with ``opt=requires(permission)``;
`authorize_org_request` checks it in the app's ``before_request`` hook, before the body is
read: it authenticates the caller (a user's access token or an API key), resolves their role in
the org named by the path, and checks the permission. In the steady state none of this touches
the database: the access token is verified in-process and its session, an API key and a user's
membership each come from a short-lived per-worker cache that changes invalidate
(`app.accounts.sessions`, `app.orgs.api_keys`, `app.orgs.memberships`). A caller who is not in
that org, or an API key of another org, gets 404: the answer never reveals whether the org
exists. The resolved `OrgActor` is handed to the handler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency, Provide

from app.accounts.auth import bearer_token
from app.accounts.service import AccountsService
from app.core.context import current_context
from app.core.exceptions import AuthenticationError, NotFoundError, PermissionDeniedError
from app.core.monitoring import ErrorMonitoring
from app.core.responses import ErrorCode
from app.orgs.actor import OrgActor
from app.orgs.api_keys import ApiKeyAuthenticator, looks_like_api_key
from app.orgs.memberships import MembershipCache
from app.orgs.permissions import Permission, Role

__all__ = [
    "API_KEY_HEADER",
    "ORG_ACCESS",
    "ORG_ACTOR",
    "ORG_SECURITY",
    "OrgAccess",
    "authorize_org_request",
    "org_service",
    "provide_org_actor",
    "requires",
]

API_KEY_HEADER = "x-api-key"
ORG_SECURITY: list[dict[str, list[str]]] = [{"BearerToken": []}, {"ApiKey": []}]
_ACTOR_STATE = "org_actor"
NO_SUCH_ORG = "No such organization."


def _credential(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    api_key = connection.headers.get(API_KEY_HEADER)
    if api_key is not None:
        api_key = api_key.strip()
        if not looks_like_api_key(api_key):
            raise AuthenticationError(
                "X-API-Key carries API keys only (sk_...); send user tokens as Authorization: Bearer.",
                error_code=ErrorCode.INVALID_TOKEN,
            )
        return api_key
    token = bearer_token(connection)
    if token is None:
        raise AuthenticationError(
            "Send an access token (Authorization: Bearer <token>) or an API key (X-API-Key)."
        )
    return token


async def resolve_org_actor(connection: ASGIConnection[Any, Any, Any, Any], org_id: UUID) -> OrgActor:
    state = connection.app.state
    credential = _credential(connection)
    if looks_like_api_key(credential):
        api_keys: ApiKeyAuthenticator = state["api_keys"]
        identity = await api_keys.authenticate(credential)
        if identity.org_id != org_id:
            raise NotFoundError(NO_SUCH_ORG)
        return OrgActor(
            org_id=org_id, role=Role(identity.role), actor_type="api_key", actor_id=identity.key_id
        )
    accounts: AccountsService = state["accounts"]
    principal = await accounts.authenticate(credential)
    if ErrorMonitoring.enabled:
        ErrorMonitoring.set_user(str(principal.user_id))
    memberships: MembershipCache = state["memberships"]
    role = await memberships.role(org_id, principal.user_id)
    if role is None:
        raise NotFoundError(NO_SUCH_ORG)
    return OrgActor(org_id=org_id, role=role, actor_type="user", actor_id=principal.user_id)


ORG_ACCESS = "org_access"


@dataclass(frozen=True, slots=True)
class OrgAccess:
    """What a route under ``/orgs/{org_id}`` asks of its caller (kept in the route's `opt`)."""

    permission: Permission
    users_only: bool = False


def requires(permission: Permission, *, users_only: bool = False) -> dict[str, Any]:
    """Route options (``opt=requires(...)``) for a route under ``/orgs/{org_id}``: the caller
    must hold `permission` there; with `users_only`, API keys are refused.

    Checked by `authorize_org_request` in the app's ``before_request`` hook, which runs before
    the body is read. Not a Litestar guard: Litestar hands every guard call a copy of the route
    handler, which cost about 8 % of a cached item read (docs/BENCHMARKS.md).
    """
    return {ORG_ACCESS: OrgAccess(permission, users_only)}


async def authorize_org_request(request: Request[Any, Any, Any]) -> None:
    """Authenticate and authorize the caller of an org-scoped route; a no-op on other routes."""
    access: OrgAccess | None = request.route_handler.opt.get(ORG_ACCESS)
    if access is None:
        return
    org_id: UUID = request.path_params["org_id"]
    actor = await resolve_org_actor(request, org_id)
    context = current_context()
    if context is not None:
        context.org_id = str(org_id)
        context.user_id = str(actor.actor_id) if actor.user_id else f"api_key:{actor.actor_id}"
    if access.users_only and actor.is_api_key:
        raise PermissionDeniedError("API keys cannot do this; sign in as a user.")
    actor.require(access.permission)
    request.state[_ACTOR_STATE] = actor


def provide_org_actor(request: Request[Any, Any, Any]) -> OrgActor:
    return request.state[_ACTOR_STATE]


def org_service(name: str) -> Provide:
    """The service `app.state[name]` for an org-scoped route, resolved after its `actor`.

    Litestar resolves dependencies that do not depend on each other concurrently, in an anyio
    task group per request, which cost a quarter of a cached item read (docs/BENCHMARKS.md).
    Taking `actor` makes the two resolve one after the other, without a task group.
    """

    def provide(request: Request[Any, Any, Any], actor: NamedDependency[OrgActor]) -> Any:
        del actor  # only orders the resolution
        return request.app.state[name]

    return Provide(provide, sync_to_thread=False)


ORG_ACTOR = Provide(provide_org_actor, sync_to_thread=False)
