"""Keyset pagination helpers: opaque cursors and splitting `limit + 1` rows into a page."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

import msgspec
import pytest

from app.core.exceptions import ValidationError
from app.core.pagination import decode_cursor, encode_cursor, page_meta, paginate
from app.core.responses import ErrorCode


class Key(msgspec.Struct, frozen=True):
    created_at: datetime
    id: uuid.UUID


class Row(msgspec.Struct, frozen=True):
    id: uuid.UUID
    created_at: datetime
    title: str


KEY = Key(
    datetime(2026, 11, 5, 12, 30, 1, 123456, tzinfo=UTC), uuid.UUID("0190a2b3-c4d5-7e6f-8a9b-0c1d2e3f4a5b")
)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_round_trip() -> None:
    cursor = encode_cursor(KEY)
    assert decode_cursor(cursor, Key) == KEY


def test_cursor_is_url_safe_and_opaque() -> None:
    cursor = encode_cursor(KEY)
    assert cursor.isascii()
    assert not set(cursor) & set("+/= &?#%")
    assert str(KEY.id) not in cursor


def test_no_cursor_means_the_first_page() -> None:
    assert decode_cursor(None, Key) is None


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("", id="empty"),
        pytest.param("not a cursor!", id="garbage"),
        pytest.param("%%%%", id="not-base64"),
        pytest.param("é", id="non-ascii"),
        pytest.param("A", id="bad-length"),
        pytest.param(b64(b"{not json"), id="not-json"),
        pytest.param(b64(b'{"x": 1}'), id="wrong-shape"),
        pytest.param(b64(b"[1, 2]"), id="array"),
        pytest.param(
            b64(b'{"created_at": "yesterday", "id": "0190a2b3-c4d5-7e6f-8a9b-0c1d2e3f4a5b"}'), id="bad-time"
        ),
        pytest.param(b64(b'{"created_at": "2026-11-05T12:30:01Z", "id": "not-a-uuid"}'), id="bad-uuid"),
        pytest.param(encode_cursor(KEY)[:-6], id="truncated"),
        pytest.param(encode_cursor(KEY) + "AAAA", id="trailing-bytes"),
    ],
)
def test_tampered_or_garbage_cursor_is_a_422_on_the_cursor(cursor: str) -> None:
    with pytest.raises(ValidationError) as caught:
        decode_cursor(cursor, Key)
    error = caught.value
    assert error.status_code == 422
    assert error.code is ErrorCode.INVALID_CURSOR
    assert [(d.path, d.location) for d in error.details] == [("cursor", "query")]


def rows(n: int) -> list[Row]:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    return [Row(uuid.UUID(int=i + 1), base.replace(second=i), f"row {i}") for i in range(n)]


def key_of(row: Row) -> Key:
    return Key(row.created_at, row.id)


def test_paginate_with_one_extra_row_returns_limit_rows_and_a_cursor_to_the_last() -> None:
    fetched = rows(6)
    page, cursor = paginate(fetched, 5, key_of)
    assert page == fetched[:5]
    assert cursor is not None
    assert decode_cursor(cursor, Key) == key_of(fetched[4])
    assert page_meta(cursor) == {"next_cursor": cursor, "has_more": True}


@pytest.mark.parametrize("n", [0, 1, 4, 5])
def test_paginate_without_an_extra_row_is_the_last_page(n: int) -> None:
    fetched = rows(n)
    page, cursor = paginate(fetched, 5, key_of)
    assert page == fetched
    assert cursor is None
    assert page_meta(cursor) == {"next_cursor": None, "has_more": False}


def test_paginate_returns_a_new_list() -> None:
    fetched = rows(3)
    page, _ = paginate(fetched, 5, key_of)
    page.append(rows(1)[0])
    assert len(fetched) == 3


def test_walking_pages_visits_every_row_once() -> None:
    everything = rows(23)
    seen: list[Row] = []
    cursor: str | None = None
    for _ in range(10):
        after = decode_cursor(cursor, Key)
        remaining = [
            r for r in everything if after is None or (r.created_at, r.id) > (after.created_at, after.id)
        ]
        page, cursor = paginate(remaining[:6], 5, key_of)
        seen.extend(page)
        if cursor is None:
            break
    assert seen == everything
