"""Typed functions over the named SQL in `sql/notifications/`."""

from __future__ import annotations

from uuid import UUID

from app.core.db import Connection, sql


async def insert_email(
    conn: Connection,
    *,
    id: UUID,  # noqa: A002
    user_id: UUID | None,
    template: str,
    to_address: str,
    payload: dict[str, str],
) -> None:
    await sql().notifications.insert_email(
        conn,
        id=id,
        user_id=user_id,
        template=template,
        to_address=to_address,
        payload=payload,
    )
