"""Inbound webhook events: what a provider sends, what is stored, what admins see."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

import msgspec

__all__ = ["InboundEnvelope", "InboundEvent", "InboundEventOut", "InboundReceipt", "InboundState"]


class InboundState(StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    IGNORED = "ignored"
    FAILED = "failed"


class InboundEnvelope(msgspec.Struct):
    """The two fields every provider's event must carry; the rest of the body is the handler's."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    type: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


class InboundReceipt(msgspec.Struct, frozen=True):
    """The answer to a provider: stored now (`duplicate` false) or already stored before."""

    source: str
    event_id: str
    duplicate: bool


class InboundEvent(msgspec.Struct, frozen=True):
    """A stored event with its raw body, as a handler gets it."""

    id: UUID
    source: str
    event_id: str
    event_type: str
    body: bytes
    state: InboundState
    received_at: datetime
    processed_at: datetime | None
    last_error: str | None


class InboundEventOut(msgspec.Struct, frozen=True):
    """An event as admins list it (no body)."""

    id: UUID
    source: str
    event_id: str
    event_type: str
    state: InboundState
    received_at: datetime
    processed_at: datetime | None
    last_error: str | None
