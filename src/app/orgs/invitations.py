"""Invitations: an admin invites an address with a role; the person accepts with the emailed token.

The token is stored as its SHA-256 digest and expires after `INVITATION_TTL_DAYS`. Inviting an
address again refreshes its open invitation (new token, role and expiry), so one address has at
most one live link per org. Accepting requires a verified email equal to the invited address.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from app.accounts import queries as account_queries
from app.core.config import Settings
from app.core.db import Database
from app.core.exceptions import ConflictError, InvalidTokenError, NotFoundError, PermissionDeniedError
from app.core.ids import new_id
from app.core.logging import get_logger
from app.core.pagination import IdCursor, decode_cursor, paginate
from app.core.responses import ErrorCode
from app.core.security import hash_token, new_token
from app.notifications.service import EmailTemplate, queue_email
from app.orgs import queries
from app.orgs.actor import OrgActor
from app.orgs.audit import MAX_UUID, AuditAction, record_event
from app.orgs.memberships import MembershipCache
from app.orgs.permissions import Permission, Role, can_grant
from app.orgs.structs import InvitationIn, InvitationOut, OrgOut
from app.outbound.event_types import EventType
from app.outbound.events import emit

__all__ = ["InvitationsService"]

logger = get_logger(__name__)


class InvitationsService:
    def __init__(self, *, settings: Settings, db: Database, memberships: MembershipCache) -> None:
        self._settings = settings
        self._db = db
        self._memberships = memberships

    async def invite(self, actor: OrgActor, data: InvitationIn) -> InvitationOut:
        actor.require(Permission.INVITATIONS_MANAGE)
        if not can_grant(actor.role, data.role):
            raise PermissionDeniedError(f"Your role ({actor.role}) cannot invite someone as {data.role}.")
        token = new_token()
        async with self._db.transaction() as conn:
            org = await queries.get_org(conn, org_id=actor.org_id)
            if org is None:
                raise NotFoundError("No such organization.")
            if await queries.is_member_by_email(conn, org_id=actor.org_id, email=data.email):
                raise ConflictError(
                    "A member of this organization already uses this address.",
                    error_code=ErrorCode.ALREADY_MEMBER,
                )
            invitation = await queries.upsert_invitation(
                conn,
                org_id=actor.org_id,
                id=new_id(),
                email=data.email,
                role=data.role,
                token_hash=hash_token(token),
                invited_by=actor.user_id,
                expires_at=datetime.now(UTC) + timedelta(days=self._settings.invitation_ttl_days),
            )
            await queue_email(
                conn=conn,
                user_id=None,
                to_address=data.email,
                template=EmailTemplate.ORG_INVITATION,
                link=f"{self._settings.public_base_url}/invitations/accept?token={token}",
                log_link=self._settings.log_email_links,
            )
            await record_event(
                conn,
                actor,
                action=AuditAction.INVITATION_CREATED,
                target_type="invitation",
                target_id=invitation.id,
                after={"email": invitation.email, "role": invitation.role.value},
            )
        return invitation

    async def list_open(
        self, actor: OrgActor, *, cursor: str | None, limit: int
    ) -> tuple[list[InvitationOut], str | None]:
        actor.require(Permission.INVITATIONS_MANAGE)
        before = decode_cursor(cursor, IdCursor)
        async with self._db.connection() as conn:
            found = await queries.list_open_invitations(
                conn, org_id=actor.org_id, before_id=before.id if before else MAX_UUID, limit=limit + 1
            )
        return paginate(found, limit, lambda invitation: IdCursor(invitation.id))

    async def revoke(self, actor: OrgActor, invitation_id: UUID) -> None:
        actor.require(Permission.INVITATIONS_MANAGE)
        async with self._db.transaction() as conn:
            revoked = await queries.revoke_invitation(conn, org_id=actor.org_id, id=invitation_id)
            if revoked is None:
                raise NotFoundError("No such open invitation.")
            if not can_grant(actor.role, revoked.role):
                raise PermissionDeniedError("Only an owner can revoke an invitation to become owner.")
            await record_event(
                conn,
                actor,
                action=AuditAction.INVITATION_REVOKED,
                target_type="invitation",
                target_id=invitation_id,
                before={"email": revoked.email, "role": revoked.role.value},
            )

    async def accept(self, user_id: UUID, token: str) -> OrgOut:
        """Join the org with the invited role; the caller's verified email must match."""
        async with self._db.transaction() as conn:
            user = await account_queries.get_user(conn, id=user_id)
            invitation = await queries.accept_invitation(conn, token_hash=hash_token(token), user_id=user_id)
            if invitation is None or user is None:
                raise InvalidTokenError("The invitation is unknown, expired, revoked or already used.")
            if not user.email_verified:
                raise PermissionDeniedError(
                    "Verify your email address before accepting an invitation.",
                    error_code=ErrorCode.EMAIL_NOT_VERIFIED,
                )
            if user.email.casefold() != invitation.email.casefold():
                raise PermissionDeniedError(
                    "This invitation was sent to another email address.",
                    error_code=ErrorCode.INVITATION_EMAIL_MISMATCH,
                )
            if not await queries.insert_member(
                conn, org_id=invitation.org_id, user_id=user_id, role=invitation.role
            ):
                raise ConflictError(
                    "You already belong to this organization.", error_code=ErrorCode.ALREADY_MEMBER
                )
            joined = OrgActor(
                org_id=invitation.org_id, role=invitation.role, actor_type="user", actor_id=user_id
            )
            await emit(
                conn,
                invitation.org_id,
                EventType.MEMBER_ADDED,
                [{"user_id": str(user_id), "role": invitation.role.value, "via": "invitation"}],
            )
            await record_event(
                conn,
                joined,
                action=AuditAction.INVITATION_ACCEPTED,
                target_type="invitation",
                target_id=invitation.id,
                after={"email": invitation.email, "role": invitation.role.value},
            )
            await record_event(
                conn,
                joined,
                action=AuditAction.MEMBER_ADDED,
                target_type="user",
                target_id=user_id,
                after={"role": invitation.role.value},
            )
            org = await queries.get_org(conn, org_id=invitation.org_id)
        # A worker may remember "not a member" from before: the new member gets in at once.
        await self._memberships.changed([(invitation.org_id, user_id)])
        assert org is not None
        logger.info("invitation accepted", extra={"org_id": str(org.id)})
        return OrgOut(
            id=org.id,
            name=org.name,
            slug=org.slug,
            created_at=org.created_at,
            updated_at=org.updated_at,
            role=Role(invitation.role),
        )
