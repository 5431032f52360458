"""Which function runs each kind of job, and the errors a handler raises to steer retries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from app.jobs.kinds import JobSpec
from app.jobs.structs import ClaimedJob

__all__ = ["DeadHandler", "Handler", "JobRegistry", "PermanentJobError", "Registered"]

Handler = Callable[[ClaimedJob], Awaitable[None]]
# Called once when a job of the kind goes dead (attempts used up, a permanent failure, or the
# lease of its last attempt ran out), with its payload and last error: for bookkeeping such as
# marking the inbound event it served as failed.
DeadHandler = Callable[[dict[str, Any], str], Awaitable[None]]


class PermanentJobError(Exception):
    """Retrying cannot help (bad payload, refused recipient): the job goes dead at once."""


@dataclass(frozen=True, slots=True)
class Registered:
    spec: JobSpec
    handler: Handler
    on_dead: DeadHandler | None = None


class JobRegistry:
    """Kinds to handlers. A job of a kind nobody registered goes dead (it would never succeed)."""

    def __init__(self) -> None:
        self._kinds: dict[str, Registered] = {}

    def register(self, spec: JobSpec, handler: Handler, *, on_dead: DeadHandler | None = None) -> None:
        if spec.name in self._kinds:
            raise ValueError(f"job kind {spec.name!r} has a handler already")
        self._kinds[spec.name] = Registered(spec, handler, on_dead)

    def get(self, kind: str) -> Registered | None:
        return self._kinds.get(kind)

    @property
    def kinds(self) -> list[str]:
        return sorted(self._kinds)
