"""Request and response bodies of the organizations feature, and the rows its queries return."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from app.core.types import DisplayName, Email, OpaqueToken
from app.orgs.permissions import Role

OrgName = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[^\x00]*$(?!\n)")]
Slug = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$(?!\n)",
        description="3-40 lower-case letters, digits or inner hyphens; unique among live orgs.",
        examples=["acme-corp"],
    ),
]
KeyName = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[^\x00]*$(?!\n)")]
ApiKeyRole = Literal["admin", "member", "viewer"]


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of request bodies: unknown fields are refused."""


# ---- requests -----------------------------------------------------------------------------


class OrgCreateIn(Input):
    name: OrgName
    slug: Slug


class OrgPatchIn(Input):
    """Fields left out stay as they are."""

    name: OrgName | msgspec.UnsetType = msgspec.UNSET
    slug: Slug | msgspec.UnsetType = msgspec.UNSET


class TransferOwnershipIn(Input):
    user_id: UUID


class MemberPatchIn(Input):
    role: Role


class InvitationIn(Input):
    email: Email
    role: Role = Role.MEMBER


class InvitationAcceptIn(Input):
    token: OpaqueToken


class ApiKeyIn(Input):
    name: KeyName
    role: ApiKeyRole = "member"
    expires_at: datetime | None = msgspec.field(default=None)


# ---- responses ----------------------------------------------------------------------------


class OrgOut(msgspec.Struct, kw_only=True):
    id: UUID
    name: str
    slug: str
    created_at: datetime
    updated_at: datetime
    role: Role


class MemberOut(msgspec.Struct, kw_only=True):
    user_id: UUID
    username: str
    display_name: DisplayName | None
    role: Role
    joined_at: datetime


class InvitationOut(msgspec.Struct, kw_only=True):
    id: UUID
    email: str
    role: Role
    invited_by: UUID | None
    created_at: datetime
    expires_at: datetime
    expired: bool


class ApiKeyOut(msgspec.Struct, kw_only=True):
    id: UUID
    name: str
    prefix: str
    role: ApiKeyRole
    created_by: UUID | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreatedOut(msgspec.Struct, kw_only=True):
    """The only response that carries the secret: store it now, it cannot be shown again."""

    id: UUID
    name: str
    prefix: str
    role: ApiKeyRole
    created_at: datetime
    expires_at: datetime | None
    key: str


class AuditEventOut(msgspec.Struct, kw_only=True):
    id: UUID
    occurred_at: datetime
    actor_type: Literal["user", "api_key"]
    actor_id: UUID
    action: str
    target_type: str
    target_id: UUID | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None
    ip: str | None


# ---- rows -----------------------------------------------------------------------------------


class OrgRow(msgspec.Struct, kw_only=True):
    id: UUID
    name: str
    slug: str
    created_at: datetime
    updated_at: datetime


class MembershipRow(msgspec.Struct, kw_only=True):
    user_id: UUID
    role: Role


class InvitationTokenRow(msgspec.Struct, kw_only=True):
    org_id: UUID
    id: UUID
    email: str
    role: Role


class ApiKeyRecord(msgspec.Struct, kw_only=True, frozen=True):
    """What authentication needs to know about a key, as cached per worker."""

    org_id: UUID
    id: UUID
    secret_hash: bytes
    role: ApiKeyRole
    expires_at: datetime | None


class RevokedKeyRow(msgspec.Struct, kw_only=True):
    prefix: str
    name: str
    role: ApiKeyRole


class ApiKeyCreatedRow(msgspec.Struct, kw_only=True):
    id: UUID
    name: str
    prefix: str
    role: ApiKeyRole
    created_at: datetime
    expires_at: datetime | None


class RevokedInvitationRow(msgspec.Struct, kw_only=True):
    email: str
    role: Role
