"""Accounts: registration, email verification, login sessions, passwords and profiles.

The service knows the domain and nothing about HTTP: it raises `AppError`s. It opens its own
transactions so that slow CPU work (argon2) stays outside them and each use case commits
exactly what it must, e.g. revoking a reused refresh token's family even though the request
itself fails.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
import msgspec

from app.accounts import queries
from app.accounts.mfa import LoginThrottling, NoThrottle, SecondFactor, throttle_account
from app.accounts.sessions import SessionCache
from app.accounts.structs import (
    LoginIn,
    MfaChallengeIn,
    MfaChallengeOut,
    PasswordChangeIn,
    PasswordResetConfirmIn,
    ProfilePatchIn,
    PublicUserOut,
    RegisterIn,
    SessionCursor,
    SessionOut,
    TokenPairOut,
    UserOut,
)
from app.core.config import Settings
from app.core.db import Connection, Database
from app.core.exceptions import (
    AuthenticationError,
    ConflictError,
    InvalidTokenError,
    NotFoundError,
    ValidationError,
)
from app.core.ids import new_id
from app.core.logging import get_logger
from app.core.monitoring import ErrorMonitoring
from app.core.pagination import decode_cursor, paginate
from app.core.responses import ErrorCode, FieldError
from app.core.security import AccessClaims, PasswordHashing, TokenCodec, hash_token, new_token
from app.notifications.service import EmailTemplate, queue_email
from app.orgs import queries as org_queries
from app.orgs.actor import OrgActor
from app.orgs.audit import AuditAction, record_event
from app.orgs.memberships import MembershipCache
from app.orgs.permissions import Role

__all__ = ["AccountsService", "Principal", "check_password_policy"]

logger = get_logger(__name__)

VERIFY_EMAIL = "verify_email"
PASSWORD_RESET = "password_reset"
_UNIQUE_FIELDS = {
    "users_email_lower_key": ("$.email", ErrorCode.EMAIL_TAKEN, "This email is already registered."),
    "users_username_lower_key": ("$.username", ErrorCode.USERNAME_TAKEN, "This username is taken."),
}


class Principal(msgspec.Struct, frozen=True):
    """The authenticated caller: a user acting through one login session."""

    user_id: UUID
    session_id: UUID


def check_password_policy(password: str, *, email: str, username: str, path: str) -> None:
    """Length is checked by the request Struct; here: not blank, not the email or username."""
    lowered = password.strip().casefold()
    if not lowered:
        raise ValidationError.for_field(path, "The password must not be blank.")
    if lowered in {email.casefold(), username.casefold(), email.split("@")[0].casefold()}:
        raise ValidationError(
            "The password must not be your email address or username.",
            error_code=ErrorCode.WEAK_PASSWORD,
            details=[FieldError(path=path, message="equals the email or username")],
        )


def _now() -> datetime:
    return datetime.now(UTC)


class AccountsService:
    """One instance per process, created at start-up with the shared resources."""

    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        passwords: PasswordHashing,
        tokens: TokenCodec,
        memberships: MembershipCache,
        second_factor: SecondFactor | None = None,
        throttle: LoginThrottling | None = None,
    ) -> None:
        self._settings = settings
        self._db = db
        self._passwords = passwords
        self._tokens = tokens
        self._memberships = memberships
        self._factor = second_factor or SecondFactor(settings)
        self._throttle: LoginThrottling = throttle or NoThrottle()
        self.sessions = SessionCache(settings.session_cache_seconds)

    # ---- registration and email verification ----------------------------------------------

    async def register(self, data: RegisterIn) -> UserOut:
        check_password_policy(data.password, email=data.email, username=data.username, path="$.password")
        password_hash = await self._passwords.hash(data.password)
        try:
            async with self._db.transaction() as conn:
                user = await queries.insert_user(
                    conn,
                    id=new_id(),
                    email=data.email,
                    username=data.username,
                    password_hash=password_hash,
                    display_name=data.display_name,
                    locale=data.locale,
                )
                await self._send_verification(conn, user_id=user.id, email=user.email)
        except asyncpg.UniqueViolationError as exc:
            path, code, message = _UNIQUE_FIELDS.get(
                exc.constraint_name or "", ("$", ErrorCode.CONFLICT, "Account already exists.")
            )
            raise ConflictError(
                message, error_code=code, details=[FieldError(path=path, message=message)]
            ) from None
        logger.info("user registered", extra={"new_user_id": str(user.id)})
        return user

    async def resend_verification(self, principal: Principal) -> None:
        async with self._db.transaction() as conn:
            user = await self._require_user(conn, principal.user_id)
            if not user.email_verified:
                await self._send_verification(conn, user_id=user.id, email=user.email)

    async def verify_email(self, token: str) -> UserOut:
        async with self._db.transaction() as conn:
            row = await queries.consume_email_token(conn, token_hash=hash_token(token), purpose=VERIFY_EMAIL)
            if row is None or not await queries.mark_email_verified(conn, id=row.user_id, email=row.email):
                raise InvalidTokenError()
            await queries.invalidate_email_tokens(conn, user_id=row.user_id, purpose=VERIFY_EMAIL)
            return await self._require_user(conn, row.user_id)

    async def _send_verification(self, conn: Connection, *, user_id: UUID, email: str) -> None:
        token = new_token()
        await queries.insert_email_token(
            conn,
            token_hash=hash_token(token),
            user_id=user_id,
            purpose=VERIFY_EMAIL,
            email=email,
            expires_at=_now() + timedelta(hours=self._settings.email_verification_ttl_hours),
        )
        await queue_email(
            conn=conn,
            user_id=user_id,
            to_address=email,
            template=EmailTemplate.VERIFY_EMAIL,
            link=f"{self._settings.public_base_url}/verify-email?token={token}",
            log_link=self._settings.log_email_links,
        )

    # ---- login sessions ---------------------------------------------------------------------

    async def login(
        self, data: LoginIn, *, user_agent: str | None, ip: str | None
    ) -> TokenPairOut | MfaChallengeOut:
        """A token pair; with two-factor on, a challenge to answer with a code instead."""
        async with self._db.connection() as conn:
            creds = await queries.get_credentials_by_login(conn, login=data.login)
        account = throttle_account(creds.id if creds else None, data.login)
        await self._throttle.check(account=account, ip=ip)
        # Unknown accounts are checked against a dummy hash: same answer, same cost.
        valid = await self._passwords.verify(creds.password_hash if creds else None, data.password)
        if creds is None or not valid or not creds.is_active:
            logger.info("login failed")
            await self._throttle.failed(account=account, ip=ip, user_id=creds.id if creds else None)
            raise AuthenticationError(
                "The login or password is incorrect.", error_code=ErrorCode.INVALID_CREDENTIALS
            )
        # Upgrade a hash made with older parameters, hashing before the transaction opens.
        new_hash = (
            await self._passwords.hash(data.password)
            if self._passwords.needs_rehash(creds.password_hash)
            else None
        )
        if creds.mfa_enabled:
            # Not a success yet for the throttle: that waits for the second factor.
            return await self._open_challenge(
                user_id=creds.id, login=data.login, new_hash=new_hash, user_agent=user_agent, ip=ip
            )
        async with self._db.transaction() as conn:
            if new_hash is not None:
                await queries.update_password_hash(conn, id=creds.id, password_hash=new_hash)
            tokens = await self._start_session(conn, user_id=creds.id, user_agent=user_agent, ip=ip)
        await self._throttle.succeeded(account=account, ip=ip)
        return tokens

    async def _open_challenge(
        self, *, user_id: UUID, login: str, new_hash: str | None, user_agent: str | None, ip: str | None
    ) -> MfaChallengeOut:
        challenge_token = new_token()
        ttl = self._settings.mfa_challenge_ttl_seconds
        async with self._db.transaction() as conn:
            if new_hash is not None:
                await queries.update_password_hash(conn, id=user_id, password_hash=new_hash)
            await queries.insert_mfa_challenge(
                conn,
                token_hash=hash_token(challenge_token),
                user_id=user_id,
                login_name=login,
                max_attempts=self._settings.mfa_challenge_max_attempts,
                user_agent=user_agent,
                ip=ip,
                expires_at=_now() + timedelta(seconds=ttl),
            )
        logger.info("login needs a second factor")
        return MfaChallengeOut(
            mfa_required=True,
            challenge_token=challenge_token,
            expires_in=ttl,
            methods=["totp", "backup_code"],
        )

    async def complete_mfa_challenge(
        self, data: MfaChallengeIn, *, user_agent: str | None, ip: str | None
    ) -> TokenPairOut:
        """The second step of signing in with two-factor on: the challenge and a TOTP or backup
        code for a token pair. Every try counts against the challenge (spent after
        MFA_CHALLENGE_MAX_ATTEMPTS) and, when wrong, against the account's login throttle."""
        token_hash = hash_token(data.challenge_token)
        async with self._db.connection() as conn:
            # Counted before the code is checked, so concurrent guesses cannot exceed the cap.
            attempt = await queries.claim_mfa_attempt(conn, token_hash=token_hash)
        if attempt is None:
            raise AuthenticationError(
                "The sign-in challenge is invalid, expired or used up; sign in with your password again.",
                error_code=ErrorCode.INVALID_TOKEN,
            )
        account = throttle_account(attempt.user_id, attempt.login_name)
        await self._throttle.check(account=account, ip=ip)
        tokens: TokenPairOut | None = None
        async with self._db.transaction() as conn:
            accepted = await self._factor.use_code(
                conn, user_id=attempt.user_id, ciphertext=attempt.secret_ciphertext, code=data.code
            )
            # Of two concurrent successes (say a TOTP and a backup code) only one spends it.
            if accepted and await queries.spend_mfa_challenge(conn, token_hash=token_hash):
                tokens = await self._start_session(
                    conn, user_id=attempt.user_id, user_agent=user_agent, ip=ip
                )
        if tokens is None:
            await self._throttle.failed(account=account, ip=ip, user_id=attempt.user_id)
            left = attempt.max_attempts - attempt.attempts
            logger.info("second factor refused", extra={"attempts_left": left})
            raise AuthenticationError(
                "The code is incorrect or was already used."
                + (f" {left} more attempt(s) with this challenge." if left else " Sign in again."),
                error_code=ErrorCode.INVALID_MFA_CODE,
            )
        await self._throttle.succeeded(account=account, ip=ip)
        return tokens

    async def _start_session(
        self, conn: Connection, *, user_id: UUID, user_agent: str | None, ip: str | None
    ) -> TokenPairOut:
        """A new login session with its first refresh token, inside the caller's transaction."""
        refresh_token = new_token()
        session_id = new_id()
        await queries.insert_session(
            conn,
            id=session_id,
            user_id=user_id,
            user_agent=user_agent,
            ip=ip,
            expires_at=self._session_expiry(),
            token_hash=hash_token(refresh_token),
        )
        logger.info("login succeeded", extra={"session_id": str(session_id)})
        return self._token_pair(user_id=user_id, session_id=session_id, refresh_token=refresh_token)

    async def refresh(self, refresh_token: str, *, user_agent: str | None, ip: str | None) -> TokenPairOut:
        new_refresh = new_token()
        old_hash = hash_token(refresh_token)
        reused_session: UUID | None = None
        async with self._db.transaction() as conn:
            ref = await queries.rotate_refresh_token(
                conn,
                old_hash=old_hash,
                new_hash=hash_token(new_refresh),
                expires_at=self._session_expiry(),
                user_agent=user_agent,
                ip=ip,
            )
            if ref is None:
                # Committed even though the request fails: a replayed token kills its family.
                reused_session = await queries.revoke_session_of_spent_token(conn, token_hash=old_hash)
        if ref is None:
            if reused_session is not None:
                self.sessions.forget_session(reused_session)
                logger.warning(
                    "refresh token reuse; session revoked", extra={"session_id": str(reused_session)}
                )
                ErrorMonitoring.capture_message(
                    "refresh_token_reuse", level="warning", session_id=str(reused_session)
                )
            raise AuthenticationError(
                "The refresh token is invalid, expired or already used.",
                error_code=ErrorCode.INVALID_TOKEN,
            )
        return self._token_pair(user_id=ref.user_id, session_id=ref.session_id, refresh_token=new_refresh)

    async def logout(self, principal: Principal) -> None:
        await self.revoke_session(principal, principal.session_id, reason="logout")

    async def list_sessions(
        self, principal: Principal, *, cursor: str | None, limit: int
    ) -> tuple[list[SessionOut], str | None]:
        after = decode_cursor(cursor, SessionCursor)
        async with self._db.connection() as conn:
            found = await queries.list_active_sessions(
                conn,
                user_id=principal.user_id,
                after_id=after.id if after else None,
                limit=limit + 1,
            )
        marked = [msgspec.structs.replace(s, current=s.id == principal.session_id) for s in found]
        return paginate(marked, limit, lambda s: SessionCursor(s.id))

    async def revoke_session(
        self, principal: Principal, session_id: UUID, *, reason: str = "user_revoked"
    ) -> None:
        async with self._db.transaction() as conn:
            revoked = await queries.revoke_session(
                conn, id=session_id, user_id=principal.user_id, reason=reason
            )
        if not revoked:
            raise NotFoundError("No such active session.")
        self.sessions.forget_session(session_id)

    async def authenticate(self, access_token: str) -> Principal:
        """Verify an access token; its session is re-checked at most once per cache period."""
        claims: AccessClaims | None = self._tokens.verify(access_token)
        if claims is None:
            raise AuthenticationError(
                "The access token is invalid or expired.", error_code=ErrorCode.INVALID_TOKEN
            )
        if not self.sessions.is_known_active(claims.sid, claims.sub):
            async with self._db.connection() as conn:
                active = await queries.is_session_active(conn, id=claims.sid, user_id=claims.sub)
            if not active:
                raise AuthenticationError(
                    "The session has ended; sign in again.", error_code=ErrorCode.INVALID_TOKEN
                )
            self.sessions.remember_active(claims.sid, claims.sub)
        return Principal(user_id=claims.sub, session_id=claims.sid)

    def _session_expiry(self) -> datetime:
        return _now() + timedelta(days=self._settings.refresh_token_ttl_days)

    def _token_pair(self, *, user_id: UUID, session_id: UUID, refresh_token: str) -> TokenPairOut:
        return TokenPairOut(
            access_token=self._tokens.issue(user_id=user_id, session_id=session_id),
            refresh_token=refresh_token,
            expires_in=self._tokens.ttl_seconds,
        )

    # ---- passwords --------------------------------------------------------------------------

    async def request_password_reset(self, email: str) -> None:
        """Queue a reset link if the account exists; callers answer the same either way."""
        async with self._db.transaction() as conn:
            user = await queries.get_user_by_email(conn, email=email)
            if user is None:
                return
            token = new_token()
            await queries.insert_email_token(
                conn,
                token_hash=hash_token(token),
                user_id=user.id,
                purpose=PASSWORD_RESET,
                email=user.email,
                expires_at=_now() + timedelta(minutes=self._settings.password_reset_ttl_minutes),
            )
            await queue_email(
                conn=conn,
                user_id=user.id,
                to_address=user.email,
                template=EmailTemplate.PASSWORD_RESET,
                link=f"{self._settings.public_base_url}/reset-password?token={token}",
                log_link=self._settings.log_email_links,
            )

    async def confirm_password_reset(self, data: PasswordResetConfirmIn) -> None:
        """Set a new password with a reset token; every session of the user is signed out.

        The token is read first and spent only in the final transaction, so the slow hash runs
        outside any transaction and a password refused by the policy leaves the token usable.
        """
        token_hash = hash_token(data.token)
        async with self._db.connection() as conn:
            row = await queries.get_valid_email_token(conn, token_hash=token_hash, purpose=PASSWORD_RESET)
            user = await queries.get_credentials_by_id(conn, id=row.user_id) if row else None
        if user is None:
            raise InvalidTokenError()
        check_password_policy(
            data.new_password, email=user.email, username=user.username, path="$.new_password"
        )
        new_hash = await self._passwords.hash(data.new_password)
        async with self._db.transaction() as conn:
            # Spent here, atomically: of two concurrent confirmations only one gets the row.
            if await queries.consume_email_token(conn, token_hash=token_hash, purpose=PASSWORD_RESET) is None:
                raise InvalidTokenError()
            await queries.update_password_hash(conn, id=user.id, password_hash=new_hash)
            await queries.invalidate_email_tokens(conn, user_id=user.id, purpose=PASSWORD_RESET)
            await queries.revoke_user_sessions(conn, user_id=user.id, reason="password_reset")
            # An open sign-in challenge proves the old password: it dies with it.
            await queries.delete_mfa_challenges(conn, user_id=user.id)
        self.sessions.forget_user(user.id)
        logger.info("password reset", extra={"target_user_id": str(user.id)})

    async def change_password(self, principal: Principal, data: PasswordChangeIn) -> None:
        """Change the password; every other session of the user is signed out."""
        async with self._db.connection() as conn:
            user = await queries.get_credentials_by_id(conn, id=principal.user_id)
        if user is None:
            raise AuthenticationError(
                "The session has ended; sign in again.", error_code=ErrorCode.INVALID_TOKEN
            )
        if not await self._passwords.verify(user.password_hash, data.current_password):
            raise ValidationError(
                "The current password is incorrect.",
                error_code=ErrorCode.INVALID_CREDENTIALS,
                details=[FieldError(path="$.current_password", message="incorrect")],
            )
        check_password_policy(
            data.new_password, email=user.email, username=user.username, path="$.new_password"
        )
        new_hash = await self._passwords.hash(data.new_password)
        async with self._db.transaction() as conn:
            await queries.update_password_hash(conn, id=user.id, password_hash=new_hash)
            await queries.revoke_user_sessions(
                conn, user_id=user.id, reason="password_changed", keep_id=principal.session_id
            )
            await queries.delete_mfa_challenges(conn, user_id=user.id)
        self.sessions.forget_user(user.id)

    # ---- profiles ---------------------------------------------------------------------------

    async def get_me(self, principal: Principal) -> UserOut:
        async with self._db.connection() as conn:
            return await self._require_user(conn, principal.user_id)

    async def update_me(self, principal: Principal, data: ProfilePatchIn) -> UserOut:
        changes: dict[str, str | None] = {
            field: value
            for field in ProfilePatchIn.__struct_fields__
            if (value := getattr(data, field)) is not msgspec.UNSET
        }
        async with self._db.transaction() as conn:
            if not changes:
                return await self._require_user(conn, principal.user_id)
            user = await queries.update_profile(conn, id=principal.user_id, changes=changes)
        if user is None:
            raise NotFoundError("The account no longer exists.")
        return user

    async def get_public_profile(self, user_id: UUID) -> PublicUserOut:
        async with self._db.connection() as conn:
            user = await queries.get_public_user(conn, id=user_id)
        if user is None:
            raise NotFoundError("No such user.")
        return user

    async def delete_me(self, principal: Principal) -> None:
        """Soft-delete the account and leave every org; refused while it is an org's only owner."""
        async with self._db.transaction() as conn:
            await org_queries.lock_orgs_owned_by(conn, user_id=principal.user_id)
            sole = await org_queries.list_orgs_solely_owned_by(conn, user_id=principal.user_id)
            if sole:
                raise ConflictError(
                    "You are the only owner of these organizations; transfer or delete them first: "
                    + ", ".join(sole),
                    error_code=ErrorCode.LAST_OWNER,
                )
            left = await org_queries.delete_memberships_of_user(conn, user_id=principal.user_id)
            for org_id, role in left:
                await record_event(
                    conn,
                    OrgActor(org_id=org_id, role=Role(role), actor_type="user", actor_id=principal.user_id),
                    action=AuditAction.MEMBER_LEFT,
                    target_type="user",
                    target_id=principal.user_id,
                    before={"role": role},
                    after={"reason": "account_deleted"},
                )
            await queries.soft_delete_user(conn, id=principal.user_id)
            await queries.revoke_user_sessions(conn, user_id=principal.user_id, reason="account_deleted")
        self.sessions.forget_user(principal.user_id)
        await self._memberships.changed((org_id, principal.user_id) for org_id, _ in left)
        logger.info("account deleted")

    async def _require_user(self, conn: Connection, user_id: UUID) -> UserOut:
        user = await queries.get_user(conn, id=user_id)
        if user is None:
            raise NotFoundError("The account no longer exists.")
        return user
