"""Keyset (cursor) pagination: opaque cursors and the page metadata of the envelope.

A cursor encodes the sort key of the last row of a page; the next page's query continues
strictly after it (``WHERE (created_at, id) < (:after_created_at, :after_id)``), so deep pages
cost the same as the first and concurrent inserts never shift or repeat rows.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar
from uuid import UUID

import msgspec
from litestar.params import QueryParameter

from app.core.exceptions import ValidationError
from app.core.responses import ErrorCode, FieldError

__all__ = [
    "DEFAULT_LIMIT",
    "TIME_MAX",
    "TIME_MIN",
    "CursorQuery",
    "IdCursor",
    "Limit",
    "LimitQuery",
    "cursor_time",
    "decode_cursor",
    "encode_cursor",
    "invalid_cursor",
    "page_meta",
    "paginate",
]

T = TypeVar("T")
K = TypeVar("K")
Limit = Annotated[int, msgspec.Meta(ge=1, le=100, description="Page size, 1..100.")]
# Query parameters for list routes. Litestar takes a parameter's bounds from QueryParameter,
# not from the Annotated type's msgspec.Meta, so they are stated here.
LimitQuery = Annotated[int, QueryParameter(name="limit", ge=1, le=100, description="Page size, 1..100.")]
CursorQuery = Annotated[
    str | None,
    QueryParameter(name="cursor", max_length=512, description="meta.next_cursor of the previous page."),
]
DEFAULT_LIMIT = 20


class IdCursor(msgspec.Struct, array_like=True, frozen=True):
    """The id of the last row of a page, for lists in id order (UUIDv7 ids sort by creation)."""

    id: UUID


def encode_cursor(key: msgspec.Struct) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(key)).rstrip(b"=").decode()


def decode_cursor(cursor: str | None, key_type: type[K]) -> K | None:
    """The sort key inside `cursor`, or None for the first page; 422 if it was tampered with."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return msgspec.json.decode(raw, type=key_type)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise invalid_cursor() from None


def invalid_cursor(
    message: str = "The cursor is not valid; use meta.next_cursor from the previous page.",
) -> ValidationError:
    return ValidationError(
        message,
        error_code=ErrorCode.INVALID_CURSOR,
        details=[FieldError(path="cursor", message="invalid cursor", location="query")],
    )


# The range of times a row can have (PostgreSQL takes more; Python's datetime does not).
TIME_MIN = datetime(1, 1, 1, tzinfo=UTC)
TIME_MAX = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def cursor_time(moment: datetime | None) -> datetime | None:
    """`moment` in UTC (no offset means UTC), or None if it is outside TIME_MIN..TIME_MAX."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        return None
    return moment if TIME_MIN <= moment <= TIME_MAX else None


def paginate(
    rows: Sequence[T], limit: int, key_of: Callable[[T], msgspec.Struct]
) -> tuple[list[T], str | None]:
    """Split `limit + 1` fetched rows into the page and the cursor for the next one."""
    if len(rows) <= limit:
        return list(rows), None
    page = list(rows[:limit])
    return page, encode_cursor(key_of(page[-1]))


def page_meta(next_cursor: str | None) -> dict[str, Any]:
    return {"next_cursor": next_cursor, "has_more": next_cursor is not None}
