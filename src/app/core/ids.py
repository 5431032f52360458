"""Time-ordered ids (UUIDv7): new rows append to the right of B-tree indexes."""

from __future__ import annotations

import uuid
from datetime import datetime

from uuid_utils.compat import uuid7

__all__ = ["first_id_at", "new_id"]


def new_id() -> uuid.UUID:
    return uuid7()


def first_id_at(moment: datetime) -> uuid.UUID:
    """The smallest UUIDv7 of `moment`'s millisecond: every id made before it sorts below it, so
    `id < first_id_at(t)` finds rows created before `t` on an index of the id."""
    milliseconds = int(moment.timestamp() * 1000)
    if not 0 <= milliseconds < 1 << 48:
        raise ValueError(f"{moment} is outside what a UUIDv7 can hold")
    version, variant = 0x7, 0b10
    return uuid.UUID(int=(milliseconds << 80) | (version << 76) | (variant << 62))
