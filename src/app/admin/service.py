"""Operators' view of background work: list and count jobs and inbound events, retry dead ones."""

from __future__ import annotations

from uuid import UUID

import msgspec

from app.admin import queries
from app.admin.structs import StateCounts
from app.core.db import Database
from app.core.exceptions import AuthenticationError, ConflictError, NotFoundError, PermissionDeniedError
from app.core.ids import new_id
from app.inbound import queries as inbound_queries
from app.inbound.structs import InboundEventOut, InboundState
from app.jobs import queries as job_queries
from app.jobs.kinds import INBOUND_PROCESS
from app.jobs.structs import JobOut, JobState

__all__ = ["AdminService"]

# The max UUID: every real id sorts before it, so it starts a newest-first list.
LAST_ID = UUID(int=(1 << 128) - 1)


class AdminService:
    def __init__(self, *, db: Database) -> None:
        self._db = db

    async def require_admin(self, user_id: UUID | None) -> None:
        if user_id is None:
            raise AuthenticationError()
        async with self._db.connection() as conn:
            allowed = await queries.is_platform_admin(conn, user_id=user_id)
        if not allowed:
            raise PermissionDeniedError("Only platform administrators may do this.")

    # ---- jobs ---------------------------------------------------------------------------------

    async def list_jobs(
        self, state: JobState, kind: str | None, before: UUID | None, limit: int
    ) -> list[JobOut]:
        async with self._db.connection() as conn:
            return await job_queries.list_jobs(
                conn, state=state, before_id=before or LAST_ID, kind=kind, limit=limit + 1
            )

    async def job_counts(self) -> StateCounts:
        async with self._db.connection() as conn:
            found = await job_queries.count_jobs_by_state(conn)
        return StateCounts(counts={state.value: found.get(state.value, 0) for state in JobState})

    async def get_job(self, job_id: UUID) -> JobOut:
        async with self._db.connection() as conn:
            job = await job_queries.get_job(conn, id=job_id)
        if job is None:
            raise NotFoundError("No such job.")
        return job

    async def retry_job(self, job_id: UUID) -> JobOut:
        async with self._db.transaction() as conn:
            if not await job_queries.revive_job(conn, id=job_id):
                job = await job_queries.get_job(conn, id=job_id)
                if job is None:
                    raise NotFoundError("No such job.")
                raise ConflictError(f"Only dead jobs can be retried; this one is {job.state}.")
            job = await job_queries.get_job(conn, id=job_id)
        assert job is not None
        return job

    # ---- inbound events -----------------------------------------------------------------------

    async def list_inbound_events(
        self, state: InboundState, source: str | None, before: UUID | None, limit: int
    ) -> list[InboundEventOut]:
        async with self._db.connection() as conn:
            return await inbound_queries.list_inbound_events(
                conn, state=state, before_id=before or LAST_ID, source=source, limit=limit + 1
            )

    async def inbound_counts(self) -> StateCounts:
        async with self._db.connection() as conn:
            found = await inbound_queries.count_inbound_events_by_state(conn)
        return StateCounts(counts={state.value: found.get(state.value, 0) for state in InboundState})

    async def retry_inbound_event(self, source: str, event_id: str) -> InboundEventOut:
        async with self._db.transaction() as conn:
            requeued = await inbound_queries.requeue_inbound_event(
                conn,
                source=source,
                event_id=event_id,
                job_id=new_id(),
                max_attempts=INBOUND_PROCESS.max_attempts,
            )
            event = await inbound_queries.get_inbound_event(conn, source=source, event_id=event_id)
        if event is None:
            raise NotFoundError("No such inbound event.")
        if not requeued:
            raise ConflictError(f"Only failed events can be retried; this one is {event.state}.")
        return msgspec.convert(msgspec.structs.asdict(event), InboundEventOut)  # without the body
