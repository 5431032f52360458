"""Typed functions over the webhook endpoint SQL in `sql/outbound/`: the only place the endpoint
routes run SQL."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec

from app.core.db import Connection, row_or_none, rows, sql
from app.outbound.endpoint_structs import (
    DeliveryAttemptOut,
    EndpointUpdateRow,
    WebhookEndpointOut,
)

__all__ = [
    "DeletedEndpointRow",
    "delete_webhook_endpoint",
    "get_webhook_endpoint",
    "insert_webhook_endpoint",
    "list_webhook_delivery_attempts",
    "list_webhook_endpoints",
    "lock_webhook_endpoint_quota",
    "rotate_webhook_endpoint_secret",
    "update_webhook_endpoint",
]


def _q():  # noqa: ANN202 - aiosql namespace, dynamically typed
    return sql().outbound


class DeletedEndpointRow(msgspec.Struct, kw_only=True):
    url: str
    event_types: list[str]
    description: str
    enabled: bool


async def lock_webhook_endpoint_quota(conn: Connection, *, org_id: UUID) -> bool:
    """Lock the org's row for the transaction; False if the org is gone."""
    return await _q().lock_webhook_endpoint_quota(conn, org_id=org_id) is not None


async def insert_webhook_endpoint(
    conn: Connection,
    *,
    org_id: UUID,
    id: UUID,  # noqa: A002
    url: str,
    description: str,
    event_types: list[str],
    secret: str,
    enabled: bool,
    disabled_reason: str | None,
    created_by: UUID | None,
    max_endpoints: int,
) -> WebhookEndpointOut | None:
    """The new endpoint, or None if the org already has `max_endpoints`."""
    record = await _q().insert_webhook_endpoint(
        conn,
        org_id=org_id,
        id=id,
        url=url,
        description=description,
        event_types=event_types,
        secret=secret,
        enabled=enabled,
        disabled_reason=disabled_reason,
        created_by=created_by,
        max_endpoints=max_endpoints,
    )
    return row_or_none(record, WebhookEndpointOut)


async def get_webhook_endpoint(conn: Connection, *, org_id: UUID, id: UUID) -> WebhookEndpointOut | None:  # noqa: A002
    return row_or_none(await _q().get_webhook_endpoint(conn, org_id=org_id, id=id), WebhookEndpointOut)


async def list_webhook_endpoints(
    conn: Connection, *, org_id: UUID, before_id: UUID, limit: int
) -> list[WebhookEndpointOut]:
    return await rows(
        _q().list_webhook_endpoints(conn, org_id=org_id, before_id=before_id, limit=limit), WebhookEndpointOut
    )


async def update_webhook_endpoint(
    conn: Connection,
    *,
    org_id: UUID,
    id: UUID,  # noqa: A002
    changes: dict[str, Any],
    disabled_reason: str,
) -> EndpointUpdateRow | None:
    """Apply `changes` (only the fields sent: url, event_types, description, enabled)."""
    record = await _q().update_webhook_endpoint(
        conn,
        org_id=org_id,
        id=id,
        set_url="url" in changes,
        url=changes.get("url"),
        set_event_types="event_types" in changes,
        event_types=changes.get("event_types"),
        set_description="description" in changes,
        description=changes.get("description"),
        enabled=changes.get("enabled"),
        disabled_reason=disabled_reason,
    )
    return row_or_none(record, EndpointUpdateRow)


async def delete_webhook_endpoint(conn: Connection, *, org_id: UUID, id: UUID) -> DeletedEndpointRow | None:  # noqa: A002
    return row_or_none(await _q().delete_webhook_endpoint(conn, org_id=org_id, id=id), DeletedEndpointRow)


async def rotate_webhook_endpoint_secret(
    conn: Connection,
    *,
    org_id: UUID,
    id: UUID,  # noqa: A002
    secret: str,
    grace_seconds: float,
) -> WebhookEndpointOut | None:
    record = await _q().rotate_webhook_endpoint_secret(
        conn, org_id=org_id, id=id, secret=secret, grace_seconds=grace_seconds
    )
    return row_or_none(record, WebhookEndpointOut)


async def list_webhook_delivery_attempts(
    conn: Connection, *, org_id: UUID, endpoint_id: UUID, before_id: UUID, limit: int
) -> list[DeliveryAttemptOut] | None:
    """A page of the endpoint's attempts, newest first; None if the org has no such endpoint."""
    records = [
        record
        async for record in _q().list_webhook_delivery_attempts(
            conn, org_id=org_id, endpoint_id=endpoint_id, before_id=before_id, limit=limit
        )
    ]
    if not records:
        return None
    # An endpoint without attempts on this page comes back as one row of NULL attempt columns.
    return [msgspec.convert(record, DeliveryAttemptOut) for record in records if record["id"] is not None]
