"""What the admin API returns beyond the job and event rows themselves."""

from __future__ import annotations

import msgspec

__all__ = ["StateCounts"]


class StateCounts(msgspec.Struct, frozen=True):
    """How many rows are in each state (states without rows count 0)."""

    counts: dict[str, int]
