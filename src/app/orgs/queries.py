"""Typed functions over the named SQL in `sql/orgs/`: the only place this feature runs SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from app.core.db import Connection, row_or_none, rows, sql
from app.orgs.structs import (
    ApiKeyCreatedRow,
    ApiKeyOut,
    ApiKeyRecord,
    AuditEventOut,
    InvitationOut,
    InvitationTokenRow,
    MemberOut,
    MembershipRow,
    OrgOut,
    OrgRow,
    RevokedInvitationRow,
    RevokedKeyRow,
)


def _q():  # noqa: ANN202 - aiosql namespace, dynamically typed
    return sql().orgs


# ---- organizations ----------------------------------------------------------------------------


async def insert_org(conn: Connection, *, id: UUID, name: str, slug: str, created_by: UUID) -> OrgRow:  # noqa: A002
    record = await _q().insert_org(conn, id=id, name=name, slug=slug, created_by=created_by)
    return msgspec.convert(record, OrgRow)


async def get_org(conn: Connection, *, org_id: UUID) -> OrgRow | None:
    return row_or_none(await _q().get_org(conn, org_id=org_id), OrgRow)


async def lock_org(conn: Connection, *, org_id: UUID) -> bool:
    return await _q().lock_org(conn, org_id=org_id) is not None


async def update_org(conn: Connection, *, org_id: UUID, name: str | None, slug: str | None) -> OrgRow | None:
    """None for a field leaves it as it is (neither may be set to NULL)."""
    record = await _q().update_org(
        conn, org_id=org_id, set_name=name is not None, name=name, set_slug=slug is not None, slug=slug
    )
    return row_or_none(record, OrgRow)


async def soft_delete_org(conn: Connection, *, org_id: UUID) -> bool:
    return await _q().soft_delete_org(conn, org_id=org_id) is not None


async def list_orgs_for_user(
    conn: Connection, *, user_id: UUID, after_org_id: UUID, limit: int
) -> list[OrgOut]:
    return await rows(
        _q().list_orgs_for_user(conn, user_id=user_id, after_org_id=after_org_id, limit=limit), OrgOut
    )


# ---- members ------------------------------------------------------------------------------------


async def insert_member(conn: Connection, *, org_id: UUID, user_id: UUID, role: str) -> bool:
    """False if the user already belongs to the org."""
    return await _q().insert_member(conn, org_id=org_id, user_id=user_id, role=role) is not None


async def get_membership(conn: Connection, *, org_id: UUID, user_id: UUID) -> MembershipRow | None:
    return row_or_none(await _q().get_membership(conn, org_id=org_id, user_id=user_id), MembershipRow)


async def get_member(conn: Connection, *, org_id: UUID, user_id: UUID) -> MemberOut | None:
    return row_or_none(await _q().get_member(conn, org_id=org_id, user_id=user_id), MemberOut)


async def count_owners(conn: Connection, *, org_id: UUID) -> int:
    return await _q().count_owners(conn, org_id=org_id)


async def update_member_role(conn: Connection, *, org_id: UUID, user_id: UUID, role: str) -> str | None:
    """The role before the change, or None if the user is not a member."""
    return await _q().update_member_role(conn, org_id=org_id, user_id=user_id, role=role)


async def delete_member(conn: Connection, *, org_id: UUID, user_id: UUID) -> str | None:
    """The role the member had, or None if the user was not a member."""
    return await _q().delete_member(conn, org_id=org_id, user_id=user_id)


async def list_members(conn: Connection, *, org_id: UUID, after_user_id: UUID, limit: int) -> list[MemberOut]:
    return await rows(
        _q().list_members(conn, org_id=org_id, after_user_id=after_user_id, limit=limit), MemberOut
    )


async def lock_orgs_owned_by(conn: Connection, *, user_id: UUID) -> None:
    async for _ in _q().lock_orgs_owned_by(conn, user_id=user_id):
        pass


async def list_orgs_solely_owned_by(conn: Connection, *, user_id: UUID) -> list[str]:
    """Slugs of the live orgs whose only owner is the user."""
    return [record["slug"] async for record in _q().list_orgs_solely_owned_by(conn, user_id=user_id)]


async def delete_memberships_of_user(conn: Connection, *, user_id: UUID) -> list[tuple[UUID, str]]:
    """(org_id, role) of every membership removed."""
    return [
        (record["org_id"], record["role"])
        async for record in _q().delete_memberships_of_user(conn, user_id=user_id)
    ]


# ---- invitations ----------------------------------------------------------------------------


async def is_member_by_email(conn: Connection, *, org_id: UUID, email: str) -> bool:
    return bool(await _q().is_member_by_email(conn, org_id=org_id, email=email))


async def upsert_invitation(
    conn: Connection,
    *,
    org_id: UUID,
    id: UUID,  # noqa: A002
    email: str,
    role: str,
    token_hash: bytes,
    invited_by: UUID | None,
    expires_at: datetime,
) -> InvitationOut:
    record = await _q().upsert_invitation(
        conn,
        org_id=org_id,
        id=id,
        email=email,
        role=role,
        token_hash=token_hash,
        invited_by=invited_by,
        expires_at=expires_at,
    )
    return msgspec.convert(record, InvitationOut)


async def list_open_invitations(
    conn: Connection, *, org_id: UUID, before_id: UUID, limit: int
) -> list[InvitationOut]:
    return await rows(
        _q().list_open_invitations(conn, org_id=org_id, before_id=before_id, limit=limit), InvitationOut
    )


async def revoke_invitation(conn: Connection, *, org_id: UUID, id: UUID) -> RevokedInvitationRow | None:  # noqa: A002
    return row_or_none(await _q().revoke_invitation(conn, org_id=org_id, id=id), RevokedInvitationRow)


async def accept_invitation(
    conn: Connection, *, token_hash: bytes, user_id: UUID
) -> InvitationTokenRow | None:
    record = await _q().accept_invitation(conn, token_hash=token_hash, user_id=user_id)
    return row_or_none(record, InvitationTokenRow)


# ---- API keys --------------------------------------------------------------------------------


async def insert_api_key(
    conn: Connection,
    *,
    org_id: UUID,
    id: UUID,  # noqa: A002
    prefix: str,
    secret_hash: bytes,
    name: str,
    role: str,
    created_by: UUID | None,
    expires_at: datetime | None,
) -> ApiKeyCreatedRow:
    record = await _q().insert_api_key(
        conn,
        org_id=org_id,
        id=id,
        prefix=prefix,
        secret_hash=secret_hash,
        name=name,
        role=role,
        created_by=created_by,
        expires_at=expires_at,
    )
    return msgspec.convert(record, ApiKeyCreatedRow)


async def list_api_keys(conn: Connection, *, org_id: UUID, before_id: UUID, limit: int) -> list[ApiKeyOut]:
    return await rows(_q().list_api_keys(conn, org_id=org_id, before_id=before_id, limit=limit), ApiKeyOut)


async def revoke_api_key(conn: Connection, *, org_id: UUID, id: UUID) -> RevokedKeyRow | None:  # noqa: A002
    return row_or_none(await _q().revoke_api_key(conn, org_id=org_id, id=id), RevokedKeyRow)


async def revoke_org_api_keys(conn: Connection, *, org_id: UUID) -> list[str]:
    """Prefixes of the keys revoked."""
    return [record["prefix"] async for record in _q().revoke_org_api_keys(conn, org_id=org_id)]


async def get_api_key_by_prefix(conn: Connection, *, prefix: str) -> ApiKeyRecord | None:
    return row_or_none(await _q().get_api_key_by_prefix(conn, prefix=prefix), ApiKeyRecord)


async def touch_api_keys(conn: Connection, *, uses: dict[tuple[UUID, UUID], datetime]) -> None:
    """Write the latest use of each (org_id, key_id) in one statement."""
    keys = list(uses)
    await _q().touch_api_keys(
        conn,
        org_ids=[org_id for org_id, _ in keys],
        ids=[key_id for _, key_id in keys],
        used_at=[uses[key] for key in keys],
    )


# ---- audit log ---------------------------------------------------------------------------------


async def insert_audit_event(
    conn: Connection,
    *,
    org_id: UUID,
    id: UUID,  # noqa: A002
    actor_type: str,
    actor_id: UUID,
    action: str,
    target_type: str,
    target_id: UUID | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    request_id: str | None,
    ip: str | None,
) -> None:
    await _q().insert_audit_event(
        conn,
        org_id=org_id,
        id=id,
        actor_type=actor_type,
        actor_id=actor_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        before=before,
        after=after,
        request_id=request_id,
        ip=ip,
    )


async def list_audit_events(
    conn: Connection,
    *,
    org_id: UUID,
    actor_id: UUID | None,
    action: str | None,
    lower_id: UUID,
    upper_id: UUID,
    limit: int,
) -> list[AuditEventOut]:
    """The named query whose index serves the filters given."""
    bounds: dict[str, Any] = {"org_id": org_id, "lower_id": lower_id, "upper_id": upper_id, "limit": limit}
    if actor_id is not None:
        records = _q().list_audit_events_by_actor(conn, actor_id=actor_id, action=action, **bounds)
    elif action is not None:
        records = _q().list_audit_events_by_action(conn, action=action, **bounds)
    else:
        records = _q().list_audit_events(conn, **bounds)
    return await rows(records, AuditEventOut)
