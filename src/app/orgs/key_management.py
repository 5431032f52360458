"""Creating, listing and revoking an organization's API keys (users only, never other keys)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from app.core.db import Database
from app.core.exceptions import NotFoundError, PermissionDeniedError, ValidationError
from app.core.ids import new_id
from app.core.pagination import IdCursor, decode_cursor, paginate
from app.orgs import queries
from app.orgs.actor import OrgActor
from app.orgs.api_keys import ApiKeyAuthenticator, generate_api_key
from app.orgs.audit import MAX_UUID, AuditAction, record_event
from app.orgs.permissions import Permission, Role, can_grant
from app.orgs.structs import ApiKeyCreatedOut, ApiKeyIn, ApiKeyOut

__all__ = ["ApiKeysService"]

_PREFIX_ATTEMPTS = 3


class ApiKeysService:
    def __init__(self, *, db: Database, api_keys: ApiKeyAuthenticator) -> None:
        self._db = db
        self._api_keys = api_keys

    async def create(self, actor: OrgActor, data: ApiKeyIn) -> ApiKeyCreatedOut:
        """Create a key; the response is the only time its secret is shown."""
        actor.require(Permission.API_KEYS_MANAGE)
        if not can_grant(actor.role, Role(data.role)):
            raise PermissionDeniedError(
                f"Your role ({actor.role}) cannot create a key with role {data.role}."
            )
        if data.expires_at is not None:
            if data.expires_at.tzinfo is None:
                raise ValidationError.for_field(
                    "$.expires_at", "Give a time zone (for example a trailing Z)."
                )
            if data.expires_at <= datetime.now(UTC):
                raise ValidationError.for_field("$.expires_at", "The expiry must be in the future.")
        for attempt in range(_PREFIX_ATTEMPTS):
            new_key = generate_api_key()
            try:
                async with self._db.transaction() as conn:
                    row = await queries.insert_api_key(
                        conn,
                        org_id=actor.org_id,
                        id=new_id(),
                        prefix=new_key.prefix,
                        secret_hash=new_key.secret_hash,
                        name=data.name,
                        role=data.role,
                        created_by=actor.user_id,
                        expires_at=data.expires_at,
                    )
                    await record_event(
                        conn,
                        actor,
                        action=AuditAction.API_KEY_CREATED,
                        target_type="api_key",
                        target_id=row.id,
                        after={"name": row.name, "role": row.role, "prefix": row.prefix},
                    )
            except asyncpg.UniqueViolationError:
                if attempt == _PREFIX_ATTEMPTS - 1:  # 60 random bits colliding three times: not chance
                    raise
                continue
            return ApiKeyCreatedOut(
                id=row.id,
                name=row.name,
                prefix=row.prefix,
                role=row.role,
                created_at=row.created_at,
                expires_at=row.expires_at,
                key=new_key.key,
            )
        raise AssertionError("unreachable")

    async def list_keys(
        self, actor: OrgActor, *, cursor: str | None, limit: int
    ) -> tuple[list[ApiKeyOut], str | None]:
        actor.require(Permission.API_KEYS_MANAGE)
        before = decode_cursor(cursor, IdCursor)
        async with self._db.connection() as conn:
            found = await queries.list_api_keys(
                conn, org_id=actor.org_id, before_id=before.id if before else MAX_UUID, limit=limit + 1
            )
        return paginate(found, limit, lambda key: IdCursor(key.id))

    async def revoke(self, actor: OrgActor, key_id: UUID) -> None:
        """Revoke a key: refused at once on this worker, on the others when the news arrives
        (Redis) or, at the latest, when their cache entry expires."""
        actor.require(Permission.API_KEYS_MANAGE)
        async with self._db.transaction() as conn:
            revoked = await queries.revoke_api_key(conn, org_id=actor.org_id, id=key_id)
            if revoked is None:
                raise NotFoundError("No such API key.")
            await record_event(
                conn,
                actor,
                action=AuditAction.API_KEY_REVOKED,
                target_type="api_key",
                target_id=key_id,
                before={"name": revoked.name, "role": revoked.role, "prefix": revoked.prefix},
            )
        await self._api_keys.revoked([revoked.prefix])
