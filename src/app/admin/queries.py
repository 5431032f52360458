"""Typed functions over the named SQL in `sql/admin/`."""

from __future__ import annotations

from uuid import UUID

from app.core.db import Connection, sql


def _q():  # noqa: ANN202 - aiosql namespace, dynamically typed
    return sql().admin


async def is_platform_admin(conn: Connection, *, user_id: UUID) -> bool:
    return bool(await _q().is_platform_admin(conn, user_id=user_id))


async def grant_platform_admin(conn: Connection, *, email: str, granted_by: str) -> bool:
    return await _q().grant_platform_admin(conn, email=email, granted_by=granted_by) is not None


async def revoke_platform_admin(conn: Connection, *, email: str) -> bool:
    return await _q().revoke_platform_admin(conn, email=email) is not None
