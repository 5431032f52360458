"""Typed functions over the named SQL in `sql/idempotency/`."""

from __future__ import annotations

from datetime import datetime

import msgspec

from app.core.db import Connection, row_or_none, sql

__all__ = [
    "StoredResponse",
    "delete_expired_idempotency_keys",
    "get_idempotency_key",
    "insert_idempotency_key",
    "lock_idempotency_key",
]


class StoredResponse(msgspec.Struct, kw_only=True, frozen=True):
    request_hash: bytes
    status_code: int
    response_headers: list[tuple[str, str]]
    response_body: bytes


def _q():  # noqa: ANN202 - aiosql namespace, dynamically typed
    return sql().idempotency


async def lock_idempotency_key(conn: Connection, *, caller: str, idempotency_key: str) -> bool:
    return bool(await _q().lock_idempotency_key(conn, caller=caller, idempotency_key=idempotency_key))


async def get_idempotency_key(
    conn: Connection, *, caller: str, idempotency_key: str
) -> StoredResponse | None:
    record = await _q().get_idempotency_key(conn, caller=caller, idempotency_key=idempotency_key)
    return row_or_none(record, StoredResponse)


async def insert_idempotency_key(
    conn: Connection,
    *,
    caller: str,
    idempotency_key: str,
    request_hash: bytes,
    method: str,
    path: str,
    status_code: int,
    response_headers: list[tuple[str, str]],
    response_body: bytes,
    expires_at: datetime,
) -> None:
    await _q().insert_idempotency_key(
        conn,
        caller=caller,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        method=method,
        path=path,
        status_code=status_code,
        response_headers=response_headers,
        response_body=response_body,
        expires_at=expires_at,
    )


async def delete_expired_idempotency_keys(conn: Connection) -> int:
    return len([row async for row in _q().delete_expired_idempotency_keys(conn)])
