"""Rows of the job queue, as the worker and the admin API see them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import msgspec

__all__ = ["ClaimedJob", "JobOut", "JobState"]


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DEAD = "dead"


class ClaimedJob(msgspec.Struct, frozen=True):
    """A job a worker holds under a lease; `lease_token` proves it when reporting the outcome."""

    id: UUID
    kind: str
    payload: dict[str, Any]
    attempts: int  # including this one
    max_attempts: int
    lease_token: UUID
    created_at: datetime


class JobOut(msgspec.Struct, frozen=True):
    id: UUID
    kind: str
    payload: dict[str, Any]
    state: JobState
    attempts: int
    max_attempts: int
    run_at: datetime
    leased_by: str | None
    lease_expires_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
