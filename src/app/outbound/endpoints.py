"""An organization's outbound webhook endpoints: create (with a per-org limit), read, change,
delete, rotate the signing secret, and read the delivery log. Owners and admins only
(`webhooks:manage`); every change is audited in its own transaction.

The signing secret is generated here, returned by create and rotate only, and never logged or
audited. URLs pass `app.webhooks.ssrf.check_url_syntax` (no private or link-local addresses;
loopback only where WEBHOOK_ALLOW_LOOPBACK allows it); the delivery worker checks the resolved
address again at send time.
"""

from __future__ import annotations

import secrets
from typing import Any
from uuid import UUID

import msgspec

from app.core.config import Settings
from app.core.db import Database
from app.core.exceptions import ConflictError, NotFoundError, ValidationError
from app.core.ids import new_id
from app.core.pagination import IdCursor, decode_cursor, paginate
from app.core.responses import FieldError
from app.orgs.actor import OrgActor
from app.orgs.audit import MAX_UUID, AuditAction, record_event
from app.orgs.permissions import Permission
from app.outbound import endpoints_queries as queries
from app.outbound.endpoint_structs import (
    DeliveryAttemptOut,
    WebhookEndpointIn,
    WebhookEndpointOut,
    WebhookEndpointPatchIn,
    WebhookEndpointSecretOut,
)
from app.outbound.event_types import is_subscribable
from app.webhooks.ssrf import UnsafeUrlError, check_url_syntax

__all__ = ["DISABLED_BY_USER", "SECRET_PREFIX", "WebhookEndpointsService", "generate_secret"]

SECRET_PREFIX = "whsec_"
DISABLED_BY_USER = "disabled by a user"
_TARGET = "webhook_endpoint"
_NO_SUCH_ENDPOINT = "No such webhook endpoint."
_NO_SUCH_ORG = "No such organization."


def generate_secret() -> str:
    """A new signing secret: 256 random bits, URL-safe, recognisable by its prefix."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _not_found() -> NotFoundError:
    return NotFoundError(_NO_SUCH_ENDPOINT)


def _with_secret(endpoint: WebhookEndpointOut, secret: str) -> WebhookEndpointSecretOut:
    return WebhookEndpointSecretOut(**msgspec.structs.asdict(endpoint), secret=secret)


def _summary(url: str, event_types: list[str], description: str, enabled: bool) -> dict[str, Any]:
    """What the audit log keeps of an endpoint's settings (never its secret)."""
    return {"url": url, "event_types": event_types, "description": description, "enabled": enabled}


class WebhookEndpointsService:
    def __init__(self, *, db: Database, settings: Settings) -> None:
        self._db = db
        self._allow_loopback = settings.webhook_allow_loopback
        self._rotation_grace_hours = settings.webhook_rotation_grace_hours
        self._max_endpoints = settings.max_webhook_endpoints_per_org

    # ---- validation ------------------------------------------------------------------------

    def _check_url(self, url: str, errors: list[FieldError]) -> str:
        """The normalized URL, or `url` unchanged with an error added."""
        try:
            return check_url_syntax(url, allow_loopback=self._allow_loopback)
        except UnsafeUrlError as exc:
            errors.append(FieldError(path="$.url", message=str(exc)))
            return url

    @staticmethod
    def _check_event_types(event_types: list[str], errors: list[FieldError]) -> None:
        seen: set[str] = set()
        for index, name in enumerate(event_types):
            path = f"$.event_types[{index}]"
            if not is_subscribable(name):
                errors.append(FieldError(path=path, message=f"Unknown event type {name!r}."))
            elif name in seen:
                errors.append(FieldError(path=path, message=f"{name!r} is listed more than once."))
            seen.add(name)

    # ---- reads -----------------------------------------------------------------------------

    async def get(self, actor: OrgActor, endpoint_id: UUID) -> WebhookEndpointOut:
        actor.require(Permission.WEBHOOKS_MANAGE)
        async with self._db.connection() as conn:
            endpoint = await queries.get_webhook_endpoint(conn, org_id=actor.org_id, id=endpoint_id)
        if endpoint is None:
            raise _not_found()
        return endpoint

    async def list_endpoints(
        self, actor: OrgActor, *, cursor: str | None, limit: int
    ) -> tuple[list[WebhookEndpointOut], str | None]:
        actor.require(Permission.WEBHOOKS_MANAGE)
        before = decode_cursor(cursor, IdCursor)
        async with self._db.connection() as conn:
            found = await queries.list_webhook_endpoints(
                conn, org_id=actor.org_id, before_id=before.id if before else MAX_UUID, limit=limit + 1
            )
        return paginate(found, limit, lambda endpoint: IdCursor(endpoint.id))

    async def list_attempts(
        self, actor: OrgActor, endpoint_id: UUID, *, cursor: str | None, limit: int
    ) -> tuple[list[DeliveryAttemptOut], str | None]:
        """The endpoint's delivery log, newest attempt first."""
        actor.require(Permission.WEBHOOKS_MANAGE)
        before = decode_cursor(cursor, IdCursor)
        async with self._db.connection() as conn:
            found = await queries.list_webhook_delivery_attempts(
                conn,
                org_id=actor.org_id,
                endpoint_id=endpoint_id,
                before_id=before.id if before else MAX_UUID,
                limit=limit + 1,
            )
        if found is None:
            raise _not_found()
        return paginate(found, limit, lambda attempt: IdCursor(attempt.id))

    # ---- writes ----------------------------------------------------------------------------

    async def create(self, actor: OrgActor, data: WebhookEndpointIn) -> WebhookEndpointSecretOut:
        """Create an endpoint; the response is the only time its secret is shown (with rotate)."""
        actor.require(Permission.WEBHOOKS_MANAGE)
        errors: list[FieldError] = []
        url = self._check_url(data.url, errors)
        self._check_event_types(data.event_types, errors)
        if errors:
            raise ValidationError(details=errors)
        secret = generate_secret()
        async with self._db.transaction() as conn:
            # Serializes the creates of one org, so the count below sees every committed one.
            if not await queries.lock_webhook_endpoint_quota(conn, org_id=actor.org_id):
                raise NotFoundError(_NO_SUCH_ORG)
            endpoint = await queries.insert_webhook_endpoint(
                conn,
                org_id=actor.org_id,
                id=new_id(),
                url=url,
                description=data.description,
                event_types=data.event_types,
                secret=secret,
                enabled=data.enabled,
                disabled_reason=None if data.enabled else DISABLED_BY_USER,
                created_by=actor.user_id,
                max_endpoints=self._max_endpoints,
            )
            if endpoint is None:
                raise ConflictError(
                    f"This organization already has {self._max_endpoints} webhook endpoints, the most"
                    " it may have; delete one first."
                )
            await record_event(
                conn,
                actor,
                action=AuditAction.WEBHOOK_ENDPOINT_CREATED,
                target_type=_TARGET,
                target_id=endpoint.id,
                after=_summary(endpoint.url, endpoint.event_types, endpoint.description, endpoint.enabled),
            )
        return _with_secret(endpoint, secret)

    async def update(
        self, actor: OrgActor, endpoint_id: UUID, data: WebhookEndpointPatchIn
    ) -> WebhookEndpointOut:
        actor.require(Permission.WEBHOOKS_MANAGE)
        errors: list[FieldError] = []
        changes: dict[str, Any] = {}
        if not isinstance(data.url, msgspec.UnsetType):
            changes["url"] = self._check_url(data.url, errors)
        if not isinstance(data.event_types, msgspec.UnsetType):
            self._check_event_types(data.event_types, errors)
            changes["event_types"] = data.event_types
        if not isinstance(data.description, msgspec.UnsetType):
            changes["description"] = data.description
        if not isinstance(data.enabled, msgspec.UnsetType):
            changes["enabled"] = data.enabled
        if errors:
            raise ValidationError(details=errors)
        if not changes:
            return await self.get(actor, endpoint_id)
        async with self._db.transaction() as conn:
            row = await queries.update_webhook_endpoint(
                conn, org_id=actor.org_id, id=endpoint_id, changes=changes, disabled_reason=DISABLED_BY_USER
            )
            if row is None:
                raise _not_found()
            before = _summary(row.old_url, row.old_event_types, row.old_description, row.old_enabled)
            after = _summary(row.url, row.event_types, row.description, row.enabled)
            await record_event(
                conn,
                actor,
                action=AuditAction.WEBHOOK_ENDPOINT_UPDATED,
                target_type=_TARGET,
                target_id=endpoint_id,
                # Only what was sent; a field sent with its current value is kept (the caller
                # asked for it, e.g. enabled: true to clear the failure state).
                before={field: before[field] for field in changes},
                after={field: after[field] for field in changes},
            )
        return WebhookEndpointOut(
            **{field: getattr(row, field) for field in WebhookEndpointOut.__struct_fields__}
        )

    async def delete(self, actor: OrgActor, endpoint_id: UUID) -> None:
        """Delete an endpoint for good, with its deliveries and their attempts."""
        actor.require(Permission.WEBHOOKS_MANAGE)
        async with self._db.transaction() as conn:
            deleted = await queries.delete_webhook_endpoint(conn, org_id=actor.org_id, id=endpoint_id)
            if deleted is None:
                raise _not_found()
            await record_event(
                conn,
                actor,
                action=AuditAction.WEBHOOK_ENDPOINT_DELETED,
                target_type=_TARGET,
                target_id=endpoint_id,
                before=_summary(deleted.url, deleted.event_types, deleted.description, deleted.enabled),
            )

    async def rotate_secret(self, actor: OrgActor, endpoint_id: UUID) -> WebhookEndpointSecretOut:
        """Give the endpoint a new secret, shown in this response only. The replaced one keeps
        signing deliveries beside it for WEBHOOK_ROTATION_GRACE_HOURS."""
        actor.require(Permission.WEBHOOKS_MANAGE)
        secret = generate_secret()
        grace_seconds = self._rotation_grace_hours * 3600
        async with self._db.transaction() as conn:
            endpoint = await queries.rotate_webhook_endpoint_secret(
                conn, org_id=actor.org_id, id=endpoint_id, secret=secret, grace_seconds=grace_seconds
            )
            if endpoint is None:
                raise _not_found()
            await record_event(
                conn,
                actor,
                action=AuditAction.WEBHOOK_ENDPOINT_SECRET_ROTATED,
                target_type=_TARGET,
                target_id=endpoint_id,
            )
        return _with_secret(endpoint, secret)
