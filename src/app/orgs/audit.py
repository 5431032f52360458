"""The audit log: security-relevant changes, appended in the transaction of the change.

Each event records who acted (a user or an API key), what they did to what, a before/after
summary, and the request id and client IP of the request. The table refuses UPDATE, DELETE and
TRUNCATE (a trigger), so the log is append-only even for the application's own role.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from ipaddress import ip_address
from typing import Any, Protocol
from uuid import UUID

from app.core.context import current_context
from app.core.db import Connection, Database
from app.core.ids import new_id
from app.core.pagination import IdCursor, decode_cursor, paginate
from app.orgs import queries
from app.orgs.actor import ActorType, OrgActor
from app.orgs.permissions import Permission
from app.orgs.structs import AuditEventOut

__all__ = ["MAX_UUID", "NIL_UUID", "AuditAction", "AuditActor", "AuditLogService", "id_floor", "record_event"]

NIL_UUID = UUID(int=0)
MAX_UUID = UUID(int=(1 << 128) - 1)


class AuditAction(StrEnum):
    ORG_CREATED = "org.created"
    ORG_UPDATED = "org.updated"
    ORG_DELETED = "org.deleted"
    OWNERSHIP_TRANSFERRED = "org.ownership_transferred"
    MEMBER_ADDED = "member.added"
    MEMBER_ROLE_CHANGED = "member.role_changed"
    MEMBER_REMOVED = "member.removed"
    MEMBER_LEFT = "member.left"
    INVITATION_CREATED = "invitation.created"
    INVITATION_ACCEPTED = "invitation.accepted"
    INVITATION_REVOKED = "invitation.revoked"
    API_KEY_CREATED = "api_key.created"
    API_KEY_REVOKED = "api_key.revoked"
    WEBHOOK_ENDPOINT_CREATED = "webhook_endpoint.created"
    WEBHOOK_ENDPOINT_UPDATED = "webhook_endpoint.updated"
    WEBHOOK_ENDPOINT_DELETED = "webhook_endpoint.deleted"
    WEBHOOK_ENDPOINT_SECRET_ROTATED = "webhook_endpoint.secret_rotated"


def _client_ip() -> tuple[str | None, str | None]:
    context = current_context()
    if context is None:
        return None, None
    ip: str | None = None
    if context.client_ip:
        try:
            ip = str(ip_address(context.client_ip))
        except ValueError:
            ip = None  # a Unix socket peer or a test transport, not an address
    return context.request_id, ip


class AuditActor(Protocol):
    """Who acted: an `OrgActor`, or any object naming the org and the acting user or key."""

    @property
    def org_id(self) -> UUID: ...
    @property
    def actor_type(self) -> ActorType: ...
    @property
    def actor_id(self) -> UUID: ...


async def record_event(
    conn: Connection,
    actor: AuditActor,
    *,
    action: AuditAction,
    target_type: str,
    target_id: UUID | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Append an event; call it inside the transaction that makes the change."""
    request_id, ip = _client_ip()
    await queries.insert_audit_event(
        conn,
        org_id=actor.org_id,
        id=new_id(),
        actor_type=actor.actor_type,
        actor_id=actor.actor_id,
        action=action.value,
        target_type=target_type,
        target_id=target_id,
        before=before,
        after=after,
        request_id=request_id,
        ip=ip,
    )


def id_floor(moment: datetime) -> UUID:
    """The smallest UUID at or above every UUIDv7 made at or after `moment` (ms precision):
    UUIDv7 puts the Unix time in milliseconds in its top 48 bits."""
    millis = max(0, int(moment.timestamp() * 1000))
    return UUID(int=min(millis, (1 << 48) - 1) << 80)


class AuditLogService:
    """Reading an organization's audit log (owners and admins)."""

    def __init__(self, *, db: Database) -> None:
        self._db = db

    async def list_events(
        self,
        actor: OrgActor,
        *,
        actor_id: UUID | None,
        action: str | None,
        since: datetime | None,
        until: datetime | None,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[AuditEventOut], str | None]:
        actor.require(Permission.AUDIT_READ)
        after = decode_cursor(cursor, IdCursor)
        upper = id_floor(until) if until is not None else MAX_UUID
        if after is not None:
            upper = min(upper, after.id)
        lower = id_floor(since) if since is not None else NIL_UUID
        async with self._db.connection() as conn:
            found = await queries.list_audit_events(
                conn,
                org_id=actor.org_id,
                actor_id=actor_id,
                action=action,
                lower_id=lower,
                upper_id=upper,
                limit=limit + 1,
            )
        return paginate(found, limit, lambda event: IdCursor(event.id))
