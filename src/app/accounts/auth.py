"""Who is calling: the `principal` dependency for routes that need a signed-in user."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency, Provide

from app.accounts.service import AccountsService, Principal
from app.core.context import current_context
from app.core.exceptions import AuthenticationError
from app.core.monitoring import ErrorMonitoring
from app.core.responses import ErrorCode

__all__ = ["authenticate_request", "bearer_token", "principal_dependency", "provide_accounts", "user_service"]

# API keys (app.orgs.api_keys) start with this; accounts routes refuse them with a clear message.
API_KEY_MARK = "sk_"
BEARER_SECURITY: list[dict[str, list[str]]] = [{"BearerToken": []}]


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if there is one."""
    header = connection.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def provide_accounts(request: Request[Any, Any, Any]) -> AccountsService:
    return request.app.state["accounts"]


_PRINCIPAL_STATE = "principal"


async def provide_principal(
    request: Request[Any, Any, Any], accounts: NamedDependency[AccountsService]
) -> Principal:
    return await authenticate_request(request, accounts)


async def authenticate_request(
    request: Request[Any, Any, Any], accounts: AccountsService | None = None
) -> Principal:
    """The signed-in user of this request (authenticated once; later calls reuse the answer)."""
    known: Principal | None = request.state.get(_PRINCIPAL_STATE)
    if known is not None:
        return known
    accounts = accounts or provide_accounts(request)
    token = bearer_token(request)
    if token is None:
        raise AuthenticationError("Send an access token: Authorization: Bearer <token>.")
    if token.startswith(API_KEY_MARK):
        raise AuthenticationError(
            "API keys work only on an organization's routes (/orgs/{org_id}/...); "
            "this route needs a user's access token.",
            error_code=ErrorCode.INVALID_TOKEN,
        )
    principal = await accounts.authenticate(token)
    context = current_context()
    if context is not None:
        context.user_id = str(principal.user_id)
    if ErrorMonitoring.enabled:
        ErrorMonitoring.set_user(str(principal.user_id))
    request.state[_PRINCIPAL_STATE] = principal
    return principal


principal_dependency = Provide(provide_principal)


def user_service(name: str) -> Provide:
    """The service `app.state[name]` for a signed-in route, resolved after its `principal`
    (independent dependencies would be resolved side by side in a task group per request; see
    app.orgs.auth.org_service)."""

    def provide(request: Request[Any, Any, Any], principal: NamedDependency[Principal]) -> Any:
        del principal  # only orders the resolution
        return request.app.state[name]

    return Provide(provide, sync_to_thread=False)
