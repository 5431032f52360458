"""Organizations and their members: create, read, rename, delete, roles, leaving, ownership.

Every method that changes who owns an org locks the org's row first (`lock_org`), so the rule
"an org always keeps at least one owner" holds when requests race. Audit events are written
in the transaction of the change they record. After a membership changes and the transaction
commits, the membership cache is told (`app.orgs.memberships`), on every worker.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg
import msgspec

from app.core.cache import Cache, cache
from app.core.db import Connection, Database
from app.core.exceptions import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from app.core.ids import new_id
from app.core.logging import get_logger
from app.core.pagination import IdCursor, decode_cursor, paginate
from app.core.responses import ErrorCode, FieldError
from app.orgs import queries
from app.orgs.actor import OrgActor
from app.orgs.api_keys import ApiKeyAuthenticator
from app.orgs.audit import NIL_UUID, AuditAction, record_event
from app.orgs.memberships import MembershipCache
from app.orgs.permissions import Permission, Role, can_grant
from app.orgs.structs import MemberOut, OrgCreateIn, OrgOut, OrgPatchIn, OrgRow
from app.outbound.event_types import EventType
from app.outbound.events import emit

__all__ = ["OrgsService"]

logger = get_logger(__name__)

_SLUG_TAKEN = "An organization with this slug already exists."
# GET /orgs/{id} reads the org through the cache this long; changes retire the entry at once.
ORG_CACHE_SECONDS = 300.0


def _org_out(row: OrgRow, role: Role) -> OrgOut:
    return OrgOut(
        id=row.id,
        name=row.name,
        slug=row.slug,
        created_at=row.created_at,
        updated_at=row.updated_at,
        role=role,
    )


def _slug_taken() -> ConflictError:
    return ConflictError(
        _SLUG_TAKEN, error_code=ErrorCode.SLUG_TAKEN, details=[FieldError(path="$.slug", message=_SLUG_TAKEN)]
    )


def _last_owner() -> ConflictError:
    return ConflictError(
        "An organization must keep at least one owner: make someone else an owner first.",
        error_code=ErrorCode.LAST_OWNER,
    )


def _member_not_found() -> NotFoundError:
    return NotFoundError("No such member in this organization.")


class OrgsService:
    """One instance per process, created at start-up with the shared resources."""

    def __init__(
        self, *, db: Database, api_keys: ApiKeyAuthenticator, memberships: MembershipCache, cache: Cache
    ) -> None:
        self._db = db
        self._api_keys = api_keys
        self._memberships = memberships
        self._cache = cache

    @property
    def cache_store(self) -> Cache:
        return self._cache

    @staticmethod
    def namespace(org_id: UUID) -> str:
        return f"org:{org_id}"

    # ---- organizations ---------------------------------------------------------------------

    async def create_org(self, user_id: UUID, data: OrgCreateIn) -> OrgOut:
        """Create an org; the creator becomes its owner."""
        try:
            async with self._db.transaction() as conn:
                row = await queries.insert_org(
                    conn, id=new_id(), name=data.name, slug=data.slug, created_by=user_id
                )
                await queries.insert_member(conn, org_id=row.id, user_id=user_id, role=Role.OWNER)
                owner = OrgActor(org_id=row.id, role=Role.OWNER, actor_type="user", actor_id=user_id)
                await record_event(
                    conn,
                    owner,
                    action=AuditAction.ORG_CREATED,
                    target_type="org",
                    target_id=row.id,
                    after={"name": row.name, "slug": row.slug},
                )
        except asyncpg.UniqueViolationError:
            raise _slug_taken() from None
        # No membership cache to retire: the org id is new, so nothing can be cached under it.
        logger.info("org created", extra={"org_id": str(row.id)})
        return _org_out(row, Role.OWNER)

    async def list_orgs(
        self, user_id: UUID, *, cursor: str | None, limit: int
    ) -> tuple[list[OrgOut], str | None]:
        after = decode_cursor(cursor, IdCursor)
        async with self._db.connection() as conn:
            found = await queries.list_orgs_for_user(
                conn, user_id=user_id, after_org_id=after.id if after else NIL_UUID, limit=limit + 1
            )
        return paginate(found, limit, lambda org: IdCursor(org.id))

    @cache(ttl=ORG_CACHE_SECONDS, namespace="org:{org_id}")
    async def load_org(self, org_id: UUID) -> OrgRow | None:
        """The live org's row (through the cache; retired by every change to the org)."""
        async with self._db.connection() as conn:
            return await queries.get_org(conn, org_id=org_id)

    async def get_org(self, actor: OrgActor) -> OrgOut:
        actor.require(Permission.ORG_READ)
        row = await self.load_org(actor.org_id)
        if row is None:
            raise NotFoundError("No such organization.")
        return _org_out(row, actor.role)

    async def update_org(self, actor: OrgActor, data: OrgPatchIn) -> OrgOut:
        actor.require(Permission.ORG_UPDATE)
        name = None if data.name is msgspec.UNSET else data.name
        slug = None if data.slug is msgspec.UNSET else data.slug
        try:
            async with self._db.transaction() as conn:
                before, actor = await self._lock_as(conn, actor, Permission.ORG_UPDATE)
                row = await queries.update_org(conn, org_id=actor.org_id, name=name, slug=slug)
                if row is None:
                    raise NotFoundError("No such organization.")
                changed = [f for f in ("name", "slug") if getattr(before, f) != getattr(row, f)]
                if changed:
                    await record_event(
                        conn,
                        actor,
                        action=AuditAction.ORG_UPDATED,
                        target_type="org",
                        target_id=actor.org_id,
                        before={f: getattr(before, f) for f in changed},
                        after={f: getattr(row, f) for f in changed},
                    )
        except asyncpg.UniqueViolationError:
            raise _slug_taken() from None
        await self._cache.invalidate(self.namespace(actor.org_id))
        return _org_out(row, actor.role)

    async def delete_org(self, actor: OrgActor) -> None:
        """Soft-delete the org; its API keys are revoked and stop working on every worker."""
        actor.require(Permission.ORG_DELETE)
        async with self._db.transaction() as conn:
            org, actor = await self._lock_as(conn, actor, Permission.ORG_DELETE)
            await queries.soft_delete_org(conn, org_id=actor.org_id)
            prefixes = await queries.revoke_org_api_keys(conn, org_id=actor.org_id)
            await record_event(
                conn,
                actor,
                action=AuditAction.ORG_DELETED,
                target_type="org",
                target_id=actor.org_id,
                before={"name": org.name, "slug": org.slug},
                after={"api_keys_revoked": len(prefixes)},
            )
        await self._api_keys.revoked(prefixes)
        await self._memberships.org_deleted(actor.org_id)
        await self._cache.invalidate(self.namespace(actor.org_id))
        logger.info("org deleted", extra={"api_keys_revoked": len(prefixes)})

    async def transfer_ownership(self, actor: OrgActor, new_owner_id: UUID) -> MemberOut:
        """Make another member an owner and step down to admin, in one transaction."""
        actor.require(Permission.ORG_TRANSFER)
        if new_owner_id == actor.user_id:
            raise ValidationError.for_field("$.user_id", "You already own this organization.")
        async with self._db.transaction() as conn:
            _, actor = await self._lock_as(conn, actor, Permission.ORG_TRANSFER)
            target = await queries.get_member(conn, org_id=actor.org_id, user_id=new_owner_id)
            if target is None:
                raise _member_not_found()
            await queries.update_member_role(conn, org_id=actor.org_id, user_id=new_owner_id, role=Role.OWNER)
            await queries.update_member_role(
                conn, org_id=actor.org_id, user_id=actor.actor_id, role=Role.ADMIN
            )
            await record_event(
                conn,
                actor,
                action=AuditAction.OWNERSHIP_TRANSFERRED,
                target_type="user",
                target_id=new_owner_id,
                before={"from_user_id": str(actor.actor_id), "to_user_role": target.role},
                after={"from_user_role": Role.ADMIN.value, "to_user_role": Role.OWNER.value},
            )
            updated = await queries.get_member(conn, org_id=actor.org_id, user_id=new_owner_id)
        await self._memberships.changed([(actor.org_id, new_owner_id), (actor.org_id, actor.actor_id)])
        assert updated is not None
        return updated

    # ---- members ------------------------------------------------------------------------------

    async def list_members(
        self, actor: OrgActor, *, cursor: str | None, limit: int
    ) -> tuple[list[MemberOut], str | None]:
        actor.require(Permission.MEMBERS_READ)
        after = decode_cursor(cursor, IdCursor)
        async with self._db.connection() as conn:
            found = await queries.list_members(
                conn, org_id=actor.org_id, after_user_id=after.id if after else NIL_UUID, limit=limit + 1
            )
        return paginate(found, limit, lambda member: IdCursor(member.user_id))

    async def change_role(self, actor: OrgActor, user_id: UUID, role: Role) -> MemberOut:
        actor.require(Permission.MEMBERS_MANAGE)
        async with self._db.transaction() as conn:
            _, actor = await self._lock_as(conn, actor, Permission.MEMBERS_MANAGE)
            target = await queries.get_member(conn, org_id=actor.org_id, user_id=user_id)
            if target is None:
                raise _member_not_found()
            _check_may_manage(actor, target.role)
            if not can_grant(actor.role, role):
                raise PermissionDeniedError(f"Your role ({actor.role}) cannot grant the role {role}.")
            if target.role == role:
                return target
            if target.role is Role.OWNER and await queries.count_owners(conn, org_id=actor.org_id) <= 1:
                raise _last_owner()
            await queries.update_member_role(conn, org_id=actor.org_id, user_id=user_id, role=role)
            await record_event(
                conn,
                actor,
                action=AuditAction.MEMBER_ROLE_CHANGED,
                target_type="user",
                target_id=user_id,
                before={"role": target.role.value},
                after={"role": role.value},
            )
        await self._memberships.changed([(actor.org_id, user_id)])
        return MemberOut(
            user_id=target.user_id,
            username=target.username,
            display_name=target.display_name,
            role=role,
            joined_at=target.joined_at,
        )

    async def remove_member(self, actor: OrgActor, user_id: UUID) -> None:
        if user_id == actor.user_id:
            await self.leave(actor)
            return
        actor.require(Permission.MEMBERS_MANAGE)
        async with self._db.transaction() as conn:
            _, actor = await self._lock_as(conn, actor, Permission.MEMBERS_MANAGE)
            target = await queries.get_member(conn, org_id=actor.org_id, user_id=user_id)
            if target is None:
                raise _member_not_found()
            _check_may_manage(actor, target.role)
            if target.role is Role.OWNER and await queries.count_owners(conn, org_id=actor.org_id) <= 1:
                raise _last_owner()
            await queries.delete_member(conn, org_id=actor.org_id, user_id=user_id)
            await emit(
                conn,
                actor.org_id,
                EventType.MEMBER_REMOVED,
                [{"user_id": str(user_id), "role": target.role.value, "reason": "removed"}],
            )
            await record_event(
                conn,
                actor,
                action=AuditAction.MEMBER_REMOVED,
                target_type="user",
                target_id=user_id,
                before={"role": target.role.value},
            )
        await self._memberships.changed([(actor.org_id, user_id)])

    async def leave(self, actor: OrgActor) -> None:
        """The caller leaves the org; the last owner cannot."""
        if actor.user_id is None:
            raise PermissionDeniedError("API keys cannot leave an organization; revoke the key instead.")
        async with self._db.transaction() as conn:
            await self._locked_org(conn, actor.org_id)
            role = await queries.delete_member(conn, org_id=actor.org_id, user_id=actor.user_id)
            if role is None:
                raise _member_not_found()
            if role == Role.OWNER and await queries.count_owners(conn, org_id=actor.org_id) == 0:
                raise _last_owner()  # rolls the delete back
            await emit(
                conn,
                actor.org_id,
                EventType.MEMBER_REMOVED,
                [{"user_id": str(actor.user_id), "role": str(role), "reason": "left"}],
            )
            await record_event(
                conn,
                actor,
                action=AuditAction.MEMBER_LEFT,
                target_type="user",
                target_id=actor.user_id,
                before={"role": role},
            )
        await self._memberships.changed([(actor.org_id, actor.user_id)])

    @staticmethod
    async def _locked_org(conn: Connection, org_id: UUID) -> OrgRow:
        """Lock the org row (serialises owner changes) and return it; 404 if it is gone."""
        if not await queries.lock_org(conn, org_id=org_id):
            raise NotFoundError("No such organization.")
        org = await queries.get_org(conn, org_id=org_id)
        assert org is not None
        return org

    async def _lock_as(
        self, conn: Connection, actor: OrgActor, permission: Permission
    ) -> tuple[OrgRow, OrgActor]:
        """Lock the org, then re-read the caller's role under the lock and re-check `permission`.

        The access check resolved the role before the lock was taken; a concurrent request may have
        demoted or removed the caller since. Decisions under the lock use the fresh role.
        An API key's role lives on the key row, so only user actors need the re-read.
        """
        org = await self._locked_org(conn, actor.org_id)
        if actor.user_id is not None:
            membership = await queries.get_membership(conn, org_id=actor.org_id, user_id=actor.user_id)
            if membership is None:
                raise NotFoundError("No such organization.")
            if membership.role is not actor.role:
                actor = msgspec.structs.replace(actor, role=membership.role)
        actor.require(permission)
        return org, actor


def _check_may_manage(actor: OrgActor, target_role: Role) -> None:
    if target_role is Role.OWNER and actor.role is not Role.OWNER:
        raise PermissionDeniedError("Only an owner can change or remove an owner.")
