"""/admin: the job queue and inbound webhook events, for platform administrators only."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter

from app.accounts.auth import BEARER_SECURITY, principal_dependency, provide_accounts
from app.accounts.service import Principal
from app.admin.service import AdminService
from app.admin.structs import StateCounts
from app.core.exceptions import ValidationError
from app.core.openapi import required_query
from app.core.pagination import (
    DEFAULT_LIMIT,
    CursorQuery,
    IdCursor,
    LimitQuery,
    decode_cursor,
    page_meta,
    paginate,
)
from app.core.responses import Envelope, create_success_response, problem_responses
from app.inbound.structs import InboundEventOut, InboundState
from app.jobs.structs import JobOut, JobState

__all__ = ["AdminController"]

S = TypeVar("S")

_ADMIN_ERRORS = (400, 401, 403)
# `state` is a reserved keyword argument in Litestar: the query parameter gets another Python name.
# Optional for Litestar and required by the handler, so an anonymous caller gets 401 before the
# 422 for a missing state (Litestar checks query parameters before dependencies).
JobStateQuery = Annotated[
    JobState | None, QueryParameter(name="state", description="The state to list (required).")
]
InboundStateQuery = Annotated[
    InboundState | None, QueryParameter(name="state", description="The state to list (required).")
]


def _required_state(value: S | None) -> S:
    if value is None:
        raise ValidationError.missing_parameter("state")
    return value


KindQuery = Annotated[
    str | None, QueryParameter(name="kind", max_length=64, description="Only jobs of this kind.")
]
SourceQuery = Annotated[
    str | None, QueryParameter(name="source", max_length=32, description="Only events from this source.")
]


async def provide_admin(
    request: Request[Any, Any, Any], principal: NamedDependency[Principal]
) -> AdminService:
    """The admin service, once the signed-in caller is known to be a platform administrator."""
    service: AdminService = request.app.state["admin"]
    await service.require_admin(principal.user_id)
    return service


# Controller dependencies of platform-admin routes: `admin` resolves only for a platform admin.
ADMIN_DEPENDENCIES = {
    "accounts": Provide(provide_accounts, sync_to_thread=False),
    "principal": principal_dependency,
    "admin": Provide(provide_admin),
}


class AdminController(Controller):
    path = "/admin"
    tags = ["admin"]
    dependencies = ADMIN_DEPENDENCIES
    security = BEARER_SECURITY

    @get(
        "/jobs",
        operation_class=required_query("state"),
        summary="Jobs in one state, newest first",
        responses=problem_responses(*_ADMIN_ERRORS, 422),
    )
    async def list_jobs(
        self,
        admin: NamedDependency[AdminService],
        job_state: JobStateQuery = None,
        kind: KindQuery = None,
        cursor: CursorQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> Response[Envelope[list[JobOut]]]:
        after = decode_cursor(cursor, IdCursor)
        rows = await admin.list_jobs(_required_state(job_state), kind, after.id if after else None, limit)
        page, next_cursor = paginate(rows, limit, lambda job: IdCursor(job.id))
        return create_success_response(page, meta=page_meta(next_cursor))

    @get(
        "/jobs/counts", summary="How many jobs are in each state", responses=problem_responses(*_ADMIN_ERRORS)
    )
    async def job_counts(self, admin: NamedDependency[AdminService]) -> Response[Envelope[StateCounts]]:
        return create_success_response(await admin.job_counts())

    @get("/jobs/{job_id:uuid}", summary="One job", responses=problem_responses(*_ADMIN_ERRORS, 404))
    async def get_job(
        self, admin: NamedDependency[AdminService], job_id: FromPath[UUID]
    ) -> Response[Envelope[JobOut]]:
        return create_success_response(await admin.get_job(job_id))

    @post(
        "/jobs/{job_id:uuid}/retry",
        status_code=200,
        summary="Retry a dead job",
        description="Due at once, with a fresh set of attempts. 409 unless the job is dead.",
        responses=problem_responses(*_ADMIN_ERRORS, 404, 409),
    )
    async def retry_job(
        self, admin: NamedDependency[AdminService], job_id: FromPath[UUID]
    ) -> Response[Envelope[JobOut]]:
        return create_success_response(await admin.retry_job(job_id))

    @get(
        "/inbound-events",
        operation_class=required_query("state"),
        summary="Inbound webhook events in one state, newest first",
        responses=problem_responses(*_ADMIN_ERRORS, 422),
    )
    async def list_inbound_events(
        self,
        admin: NamedDependency[AdminService],
        event_state: InboundStateQuery = None,
        source: SourceQuery = None,
        cursor: CursorQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> Response[Envelope[list[InboundEventOut]]]:
        after = decode_cursor(cursor, IdCursor)
        rows = await admin.list_inbound_events(
            _required_state(event_state), source, after.id if after else None, limit
        )
        page, next_cursor = paginate(rows, limit, lambda event: IdCursor(event.id))
        return create_success_response(page, meta=page_meta(next_cursor))

    @get(
        "/inbound-events/counts",
        summary="How many inbound events are in each state",
        responses=problem_responses(*_ADMIN_ERRORS),
    )
    async def inbound_counts(self, admin: NamedDependency[AdminService]) -> Response[Envelope[StateCounts]]:
        return create_success_response(await admin.inbound_counts())

    @post(
        "/inbound-events/{source:str}/{event_id:str}/retry",
        status_code=200,
        summary="Process a failed inbound event again",
        description="Back to `received` with a new processing job. 409 unless the event failed.",
        responses=problem_responses(*_ADMIN_ERRORS, 404, 409),
    )
    async def retry_inbound_event(
        self, admin: NamedDependency[AdminService], source: FromPath[str], event_id: FromPath[str]
    ) -> Response[Envelope[InboundEventOut]]:
        return create_success_response(await admin.retry_inbound_event(source, event_id))
