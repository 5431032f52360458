"""Request and response bodies of the accounts feature, and the rows its queries return."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from app.core.types import (
    AnyPassword,
    Bio,
    DisplayName,
    Email,
    HttpsUrl,
    Locale,
    LoginName,
    OpaqueToken,
    Password,
    Username,
)

# A 6-digit TOTP code or a backup code (`abcde-23456`); spaces and dashes are ignored.
MfaCode = Annotated[
    str,
    msgspec.Meta(
        min_length=6,
        max_length=24,
        pattern=r"^[A-Za-z0-9 -]+$(?!\n)",
        description="The 6-digit code of the authenticator app, or one of the backup codes.",
        examples=["123456", "k7m2q-x9p4t"],
    ),
]
TotpCode = Annotated[
    str,
    msgspec.Meta(
        min_length=6,
        max_length=8,
        pattern=r"^[0-9 ]+$(?!\n)",
        description="The 6-digit code of the authenticator app.",
        examples=["123456"],
    ),
]


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of request bodies: unknown fields are refused."""


# ---- requests -----------------------------------------------------------------------------


class RegisterIn(Input):
    email: Email
    username: Username
    password: Password
    display_name: DisplayName | None = None
    locale: Locale = "en"


class TokenIn(Input):
    """A one-time token from an email link."""

    token: OpaqueToken


class LoginIn(Input):
    login: LoginName
    password: AnyPassword


class RefreshIn(Input):
    refresh_token: OpaqueToken


class PasswordResetRequestIn(Input):
    email: Email


class PasswordResetConfirmIn(Input):
    token: OpaqueToken
    new_password: Password


class PasswordChangeIn(Input):
    current_password: AnyPassword
    new_password: Password


class TotpCodeIn(Input):
    code: TotpCode


class MfaChallengeIn(Input):
    """The challenge token from /auth/login and a code of the second factor."""

    challenge_token: OpaqueToken
    code: MfaCode


class MfaEnableIn(Input):
    password: AnyPassword


class MfaDisableIn(Input):
    password: AnyPassword
    code: MfaCode


class ProfilePatchIn(Input):
    """Fields left out stay as they are; `null` clears an optional field."""

    display_name: DisplayName | msgspec.UnsetType | None = msgspec.UNSET
    bio: Bio | msgspec.UnsetType | None = msgspec.UNSET
    avatar_url: HttpsUrl | msgspec.UnsetType | None = msgspec.UNSET
    locale: Locale | msgspec.UnsetType = msgspec.UNSET


# ---- responses ----------------------------------------------------------------------------


class UserOut(msgspec.Struct, frozen=True, kw_only=True):
    """The account owner's view of the profile."""

    id: UUID
    email: str
    username: str
    display_name: str | None
    bio: str | None
    avatar_url: str | None
    locale: str
    email_verified: bool
    created_at: datetime
    updated_at: datetime


class PublicUserOut(msgspec.Struct, frozen=True, kw_only=True):
    """What any signed-in caller may see of another account."""

    id: UUID
    username: str
    display_name: str | None
    bio: str | None
    avatar_url: str | None
    created_at: datetime


class TokenPairOut(msgspec.Struct, frozen=True, kw_only=True):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class MfaChallengeOut(msgspec.Struct, frozen=True, kw_only=True):
    """The password was right and two-factor is on: send a code with this challenge token to
    /auth/mfa/challenge. Tell it from a token pair by `mfa_required`."""

    mfa_required: Literal[True]
    challenge_token: str
    expires_in: int
    methods: list[Literal["totp", "backup_code"]]


class MfaSetupOut(msgspec.Struct, frozen=True, kw_only=True):
    """A pending TOTP secret: add it to an authenticator app, then confirm with a first code."""

    secret: str
    otpauth_uri: str
    issuer: str
    account: str


class BackupCodesOut(msgspec.Struct, frozen=True, kw_only=True):
    """One-time codes for when the authenticator is not at hand; shown only this once."""

    backup_codes: list[str]


class SessionOut(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    user_agent: str | None
    ip: str | None
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    current: bool = False


class MessageOut(msgspec.Struct, frozen=True):
    message: str


# ---- rows -----------------------------------------------------------------------------------


class CredentialsRow(msgspec.Struct, frozen=True):
    id: UUID
    password_hash: str
    is_active: bool
    mfa_enabled: bool = False


class MfaStateRow(msgspec.Struct, frozen=True):
    email: str
    password_hash: str
    secret_ciphertext: bytes | None
    enabled: bool


class MfaAttemptRow(msgspec.Struct, frozen=True):
    user_id: UUID
    login_name: str
    attempts: int
    max_attempts: int
    secret_ciphertext: bytes


class IdentityRow(msgspec.Struct, frozen=True):
    id: UUID
    email: str
    username: str


class PasswordRow(msgspec.Struct, frozen=True):
    id: UUID
    email: str
    username: str
    password_hash: str


class SessionRef(msgspec.Struct, frozen=True):
    session_id: UUID
    user_id: UUID


class EmailTokenRow(msgspec.Struct, frozen=True):
    user_id: UUID
    email: str


class SessionCursor(msgspec.Struct, frozen=True, array_like=True):
    """The keyset of the session list: the id of the last session on a page."""

    id: UUID
