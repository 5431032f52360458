"""Typed functions over the named SQL in `sql/notifications/`."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec

from app.core.db import Connection, row_or_none, sql


class UnsentEmail(msgspec.Struct, frozen=True):
    id: UUID
    template: str
    to_address: str
    payload: dict[str, Any]


async def insert_email(
    conn: Connection,
    *,
    id: UUID,  # noqa: A002
    user_id: UUID | None,
    template: str,
    to_address: str,
    payload: dict[str, str],
    job_id: UUID,
    max_attempts: int,
) -> None:
    """Write the email and queue the job that sends it (one statement)."""
    await sql().notifications.insert_email(
        conn,
        id=id,
        user_id=user_id,
        template=template,
        to_address=to_address,
        payload=payload,
        job_id=job_id,
        max_attempts=max_attempts,
    )


async def get_unsent_email(conn: Connection, *, id: UUID) -> UnsentEmail | None:  # noqa: A002
    return row_or_none(await sql().notifications.get_unsent_email(conn, id=id), UnsentEmail)


async def mark_email_sent(conn: Connection, *, id: UUID) -> None:  # noqa: A002
    await sql().notifications.mark_email_sent(conn, id=id)
