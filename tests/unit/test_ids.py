"""Time-ordered ids: `first_id_at(t)` sorts above every id made before t and below every id made
from t on, byte for byte (PostgreSQL compares uuid values as bytes)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.core.ids import first_id_at, new_id


def test_first_id_at_is_a_uuidv7() -> None:
    bound = first_id_at(datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC))
    assert bound.version == 7
    assert bound.variant == uuid.RFC_4122
    assert int.from_bytes(bound.bytes[:6]) == 1_767_323_045_678  # the millisecond, big-endian


def test_ids_made_before_sort_below_and_ids_made_after_sort_above() -> None:
    before = new_id()
    time.sleep(0.002)
    bound = first_id_at(datetime.now(UTC))
    after = new_id()
    assert before.bytes < bound.bytes <= after.bytes
    assert first_id_at(datetime.now(UTC) - timedelta(days=30)).bytes < before.bytes


def test_a_moment_before_1970_is_refused() -> None:
    with pytest.raises(ValueError, match="UUIDv7"):
        first_id_at(datetime(1969, 12, 31, tzinfo=UTC))
