"""HTTP routes of the accounts feature: decode, call one service method, wrap the envelope."""

from __future__ import annotations

import re
from ipaddress import ip_address
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody

from app.accounts.auth import BEARER_SECURITY, principal_dependency, provide_accounts, user_service
from app.accounts.mfa import MfaService
from app.accounts.service import AccountsService, Principal
from app.accounts.structs import (
    BackupCodesOut,
    LoginIn,
    MessageOut,
    MfaChallengeIn,
    MfaChallengeOut,
    MfaDisableIn,
    MfaEnableIn,
    MfaSetupOut,
    PasswordChangeIn,
    PasswordResetConfirmIn,
    PasswordResetRequestIn,
    ProfilePatchIn,
    PublicUserOut,
    RefreshIn,
    RegisterIn,
    SessionOut,
    TokenIn,
    TokenPairOut,
    TotpCodeIn,
    UserOut,
)
from app.core.config import Settings
from app.core.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, page_meta
from app.core.rate_limit import client_ip
from app.core.responses import Envelope, create_success_response, problem_responses

__all__ = ["AuthController", "MfaController", "UsersController"]

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
RESET_REQUESTED = "If an account exists for this address, a password reset link has been sent."
# Answers that carry secrets (TOTP secret, backup codes) must not be kept by any cache.
NO_STORE = {"Cache-Control": "no-store"}


def _client(request: Request[Any, Any, Any]) -> tuple[str | None, str | None]:
    """The caller's user agent (truncated) and IP address (None if not an IP, e.g. a socket).

    The address is the one the rate limits use: behind RATE_LIMIT_TRUSTED_PROXY_HOPS proxies,
    taken from X-Forwarded-For, so the login throttle counts clients, not the proxy.
    """
    user_agent = _CONTROL_CHARS.sub("", request.headers.get("user-agent") or "")
    settings: Settings = request.app.state["settings"]
    host = client_ip(request.scope, settings.rate_limit_trusted_proxy_hops)
    try:
        ip = str(ip_address(host))
    except ValueError:
        ip = None
    return (user_agent[:512] or None), ip


# Route options of the signed-in two-factor routes: the caller, then the MFA service after it.
_SIGNED_IN_MFA: dict[str, Any] = {
    "dependencies": {"principal": principal_dependency, "mfa": user_service("mfa")},
    "security": BEARER_SECURITY,
}


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]
    dependencies = {"accounts": Provide(provide_accounts, sync_to_thread=False)}

    @post(
        "/register",
        status_code=201,
        summary="Create an account",
        description=(
            "Creates the account and emails a verification link. "
            "Email and username are unique regardless of case."
        ),
        responses=problem_responses(400, 409, 413, 415, 422),
    )
    async def register(
        self, data: JSONBody[RegisterIn], accounts: NamedDependency[AccountsService]
    ) -> Response[Envelope[UserOut]]:
        return create_success_response(await accounts.register(data), status_code=201)

    @post(
        "/verify-email",
        status_code=200,
        summary="Verify the email address with the token from the email",
        responses=problem_responses(400, 413, 415, 422),
    )
    async def verify_email(
        self, data: JSONBody[TokenIn], accounts: NamedDependency[AccountsService]
    ) -> Response[Envelope[UserOut]]:
        return create_success_response(await accounts.verify_email(data.token))

    @post(
        "/verify-email/resend",
        status_code=202,
        summary="Send a new verification email to the caller",
        dependencies={"principal": principal_dependency},
        security=BEARER_SECURITY,
        responses=problem_responses(401, 404),
    )
    async def resend_verification(
        self, accounts: NamedDependency[AccountsService], principal: NamedDependency[Principal]
    ) -> Response[Envelope[MessageOut]]:
        await accounts.resend_verification(principal)
        return create_success_response(
            MessageOut("If the address is not yet verified, a new link has been sent."), status_code=202
        )

    @post(
        "/login",
        status_code=200,
        summary="Sign in with email or username and password",
        description=(
            "Returns a short-lived access token (JWT) and a refresh token that rotates on every use. "
            "With two-factor authentication on, returns instead `mfa_required: true` and a "
            "`challenge_token` to send with a code to POST /auth/mfa/challenge. Repeated failures "
            "slow down and then answer 429 with Retry-After."
        ),
        responses=problem_responses(400, 401, 413, 415, 422, 429),
    )
    async def login(
        self,
        data: JSONBody[LoginIn],
        accounts: NamedDependency[AccountsService],
        request: Request[Any, Any, Any],
    ) -> Response[Envelope[TokenPairOut | MfaChallengeOut]]:
        user_agent, ip = _client(request)
        return create_success_response(await accounts.login(data, user_agent=user_agent, ip=ip))

    @post(
        "/refresh",
        status_code=200,
        summary="Exchange a refresh token for a new token pair",
        description=(
            "The presented refresh token is spent. Presenting a spent token again revokes its whole session."
        ),
        responses=problem_responses(400, 401, 413, 415, 422),
    )
    async def refresh(
        self,
        data: JSONBody[RefreshIn],
        accounts: NamedDependency[AccountsService],
        request: Request[Any, Any, Any],
    ) -> Response[Envelope[TokenPairOut]]:
        user_agent, ip = _client(request)
        return create_success_response(
            await accounts.refresh(data.refresh_token, user_agent=user_agent, ip=ip)
        )

    @post(
        "/logout",
        status_code=204,
        summary="End the current session",
        dependencies={"principal": principal_dependency},
        security=BEARER_SECURITY,
        responses=problem_responses(401),
    )
    async def logout(
        self, accounts: NamedDependency[AccountsService], principal: NamedDependency[Principal]
    ) -> None:
        await accounts.logout(principal)

    @post(
        "/password-reset/request",
        status_code=202,
        summary="Email a password reset link",
        description="Answers the same whether or not an account exists for the address.",
        responses=problem_responses(400, 413, 415, 422),
    )
    async def request_password_reset(
        self, data: JSONBody[PasswordResetRequestIn], accounts: NamedDependency[AccountsService]
    ) -> Response[Envelope[MessageOut]]:
        await accounts.request_password_reset(data.email)
        return create_success_response(MessageOut(RESET_REQUESTED), status_code=202)

    @post(
        "/password-reset/confirm",
        status_code=204,
        summary="Set a new password with the token from the reset email",
        description="Signs out every session of the account.",
        responses=problem_responses(400, 413, 415, 422),
    )
    async def confirm_password_reset(
        self, data: JSONBody[PasswordResetConfirmIn], accounts: NamedDependency[AccountsService]
    ) -> None:
        await accounts.confirm_password_reset(data)

    @post(
        "/password/change",
        status_code=204,
        summary="Change the password",
        description="Requires the current password; signs out every other session.",
        dependencies={"principal": principal_dependency},
        security=BEARER_SECURITY,
        responses=problem_responses(400, 401, 413, 415, 422),
    )
    async def change_password(
        self,
        data: JSONBody[PasswordChangeIn],
        accounts: NamedDependency[AccountsService],
        principal: NamedDependency[Principal],
    ) -> None:
        await accounts.change_password(principal, data)

    @get(
        "/sessions",
        summary="List the caller's active sessions",
        dependencies={"principal": principal_dependency},
        security=BEARER_SECURITY,
        responses=problem_responses(400, 401, 422),
    )
    async def list_sessions(
        self,
        accounts: NamedDependency[AccountsService],
        principal: NamedDependency[Principal],
        cursor: CursorQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> Response[Envelope[list[SessionOut]]]:
        sessions, next_cursor = await accounts.list_sessions(principal, cursor=cursor, limit=limit)
        return create_success_response(sessions, meta=page_meta(next_cursor))

    @delete(
        "/sessions/{session_id:uuid}",
        status_code=204,
        summary="Revoke one of the caller's sessions",
        description="Its refresh token stops working at once; its access token within SESSION_CACHE_SECONDS.",
        dependencies={"principal": principal_dependency},
        security=BEARER_SECURITY,
        responses=problem_responses(400, 401, 404),
    )
    async def revoke_session(
        self,
        session_id: FromPath[UUID],
        accounts: NamedDependency[AccountsService],
        principal: NamedDependency[Principal],
    ) -> None:
        await accounts.revoke_session(principal, session_id)


class MfaController(Controller):
    """Two-factor authentication with an authenticator app (TOTP) and backup codes (docs/MFA.md)."""

    path = "/auth/mfa"
    tags = ["auth"]
    dependencies = {"accounts": Provide(provide_accounts, sync_to_thread=False)}

    @post(
        "/enable",
        status_code=200,
        summary="Start setting up two-factor authentication",
        description=(
            "Requires the password again. Creates a pending TOTP secret and returns it with an "
            "otpauth:// URI (for a QR code). Two-factor is on only after POST /auth/mfa/confirm. "
            "Calling it again replaces a pending secret; 409 MFA_ALREADY_ENABLED once two-factor is on."
        ),
        **_SIGNED_IN_MFA,
        responses=problem_responses(400, 401, 404, 409, 413, 415, 422),
    )
    async def enable(
        self,
        data: JSONBody[MfaEnableIn],
        mfa: NamedDependency[MfaService],
        principal: NamedDependency[Principal],
        request: Request[Any, Any, Any],
    ) -> Response[Envelope[MfaSetupOut]]:
        _, ip = _client(request)
        setup = await mfa.enable(principal.user_id, data.password, ip=ip)
        return create_success_response(setup, headers=NO_STORE)

    @post(
        "/confirm",
        status_code=200,
        summary="Turn two-factor authentication on with a first code",
        description=(
            "Checks a code from the authenticator app against the pending secret, turns two-factor "
            "on and returns 10 one-time backup codes. They are shown only this once."
        ),
        **_SIGNED_IN_MFA,
        responses=problem_responses(400, 401, 404, 409, 413, 415, 422),
    )
    async def confirm(
        self,
        data: JSONBody[TotpCodeIn],
        mfa: NamedDependency[MfaService],
        principal: NamedDependency[Principal],
    ) -> Response[Envelope[BackupCodesOut]]:
        return create_success_response(await mfa.confirm(principal.user_id, data.code), headers=NO_STORE)

    @post(
        "/challenge",
        status_code=200,
        summary="Finish signing in with a second factor",
        description=(
            "Exchanges the challenge token from POST /auth/login and a code (from the authenticator "
            "app, or a backup code, which then is used up) for a token pair. A challenge lasts "
            "MFA_CHALLENGE_TTL_SECONDS, works once, and is spent after MFA_CHALLENGE_MAX_ATTEMPTS "
            "tries; wrong codes also count as failed logins of the account."
        ),
        responses=problem_responses(400, 401, 413, 415, 422, 429),
    )
    async def challenge(
        self,
        data: JSONBody[MfaChallengeIn],
        accounts: NamedDependency[AccountsService],
        request: Request[Any, Any, Any],
    ) -> Response[Envelope[TokenPairOut]]:
        user_agent, ip = _client(request)
        return create_success_response(
            await accounts.complete_mfa_challenge(data, user_agent=user_agent, ip=ip)
        )

    @post(
        "/backup-codes",
        status_code=200,
        summary="Replace the backup codes",
        description="Requires a current code from the authenticator app; the old backup codes stop working.",
        **_SIGNED_IN_MFA,
        responses=problem_responses(400, 401, 404, 409, 413, 415, 422, 429),
    )
    async def regenerate_backup_codes(
        self,
        data: JSONBody[TotpCodeIn],
        mfa: NamedDependency[MfaService],
        principal: NamedDependency[Principal],
        request: Request[Any, Any, Any],
    ) -> Response[Envelope[BackupCodesOut]]:
        _, ip = _client(request)
        codes = await mfa.regenerate_backup_codes(principal.user_id, data.code, ip=ip)
        return create_success_response(codes, headers=NO_STORE)

    @post(
        "/disable",
        status_code=204,
        summary="Turn two-factor authentication off",
        description="Requires the password and a code (authenticator app or backup code).",
        **_SIGNED_IN_MFA,
        responses=problem_responses(400, 401, 404, 409, 413, 415, 422, 429),
    )
    async def disable(
        self,
        data: JSONBody[MfaDisableIn],
        mfa: NamedDependency[MfaService],
        principal: NamedDependency[Principal],
        request: Request[Any, Any, Any],
    ) -> None:
        _, ip = _client(request)
        await mfa.disable(principal.user_id, data, ip=ip)


class UsersController(Controller):
    path = "/users"
    tags = ["users"]
    dependencies = {
        "accounts": Provide(provide_accounts, sync_to_thread=False),
        "principal": principal_dependency,
    }
    security = BEARER_SECURITY

    @get("/me", summary="The caller's profile", responses=problem_responses(401, 404))
    async def get_me(
        self, accounts: NamedDependency[AccountsService], principal: NamedDependency[Principal]
    ) -> Response[Envelope[UserOut]]:
        return create_success_response(await accounts.get_me(principal))

    @patch(
        "/me",
        summary="Update the caller's profile",
        description="Only the fields sent change; null clears display_name, bio or avatar_url.",
        responses=problem_responses(400, 401, 404, 413, 415, 422),
    )
    async def update_me(
        self,
        data: JSONBody[ProfilePatchIn],
        accounts: NamedDependency[AccountsService],
        principal: NamedDependency[Principal],
    ) -> Response[Envelope[UserOut]]:
        return create_success_response(await accounts.update_me(principal, data))

    @delete(
        "/me",
        status_code=204,
        summary="Delete the caller's account",
        description="Soft delete: the account can no longer sign in and every session is revoked.",
        responses=problem_responses(401),
    )
    async def delete_me(
        self, accounts: NamedDependency[AccountsService], principal: NamedDependency[Principal]
    ) -> None:
        await accounts.delete_me(principal)

    @get(
        "/{user_id:uuid}",
        summary="A user's public profile",
        responses=problem_responses(400, 401, 404),
    )
    async def get_user(
        self,
        user_id: FromPath[UUID],
        accounts: NamedDependency[AccountsService],
        principal: NamedDependency[Principal],
    ) -> Response[Envelope[PublicUserOut]]:
        del principal  # signed-in callers only
        return create_success_response(await accounts.get_public_profile(user_id))
