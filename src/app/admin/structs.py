"""What the admin API returns beyond the job and event rows themselves."""

from __future__ import annotations

from uuid import UUID

import msgspec

__all__ = ["IdCursor", "StateCounts"]


class StateCounts(msgspec.Struct, frozen=True):
    """How many rows are in each state (states without rows count 0)."""

    counts: dict[str, int]


class IdCursor(msgspec.Struct, frozen=True):
    """Keyset position in a newest-first list of UUIDv7 ids."""

    i: UUID
