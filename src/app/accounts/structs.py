"""Request and response bodies of the accounts feature, and the rows its queries return."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
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
