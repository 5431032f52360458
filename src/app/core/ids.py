"""Time-ordered ids (UUIDv7): new rows append to the right of B-tree indexes."""

from __future__ import annotations

import uuid

from uuid_utils.compat import uuid7

__all__ = ["new_id"]


def new_id() -> uuid.UUID:
    return uuid7()
