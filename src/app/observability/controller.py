"""`GET /metrics` (Prometheus) and `GET /debug/sentry-test` (platform admins, when enabled)."""

from __future__ import annotations

import hmac
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency

from app.accounts.auth import BEARER_SECURITY
from app.admin.controller import ADMIN_DEPENDENCIES
from app.admin.service import AdminService
from app.core.config import Settings
from app.core.exceptions import AuthenticationError
from app.core.metrics import CONTENT_TYPE_LATEST, scrape
from app.core.monitoring import ErrorMonitoring
from app.core.responses import Envelope, create_success_response, problem_responses
from app.observability.sampler import MetricsSampler

__all__ = ["DebugController", "SentryTestError", "SentryTestOut", "metrics", "metrics_authorized"]

SAMPLER_STATE = "metrics_sampler"


def metrics_authorized(authorization: str | None, token: str | None) -> bool:
    """Whether an Authorization header value carries METRICS_TOKEN (always, when none is set)."""
    if token is None:
        return True
    return authorization is not None and hmac.compare_digest(
        authorization.encode(), f"Bearer {token}".encode()
    )


@get("/metrics", include_in_schema=False, cache=False, summary="Prometheus metrics")
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The text exposition of every metric (all worker processes in multi-process mode).

    Left out of the OpenAPI document: it is for Prometheus, not for API clients.
    """
    settings: Settings = request.app.state["settings"]
    if not metrics_authorized(request.headers.get("authorization"), settings.metrics_token):
        raise AuthenticationError("A valid metrics token is required.")
    sampler: MetricsSampler | None = request.app.state.get(SAMPLER_STATE)
    if sampler is not None:
        await sampler.refresh()
    return Response(content=scrape(), media_type=CONTENT_TYPE_LATEST)


class SentryTestOut(msgspec.Struct, frozen=True):
    sentry_enabled: bool
    message_event_id: str | None
    exception_event_id: str | None


class SentryTestError(RuntimeError):
    """Raised (and captured) on purpose by /debug/sentry-test."""


class DebugController(Controller):
    """Registered only with DEBUG_SENTRY_TEST_ENABLED=true; otherwise the route does not exist."""

    path = "/debug"
    tags = ["debug"]
    dependencies = ADMIN_DEPENDENCIES
    security = BEARER_SECURITY

    @get(
        "/sentry-test",
        summary="Send a test message and a test exception to Sentry (platform admins)",
        description=(
            "Checks the Sentry set-up end to end: returns the event ids to look up in Sentry. "
            "The test exception is captured, not raised: the answer is 200."
        ),
        cache=False,
        responses=problem_responses(401, 403),
    )
    async def sentry_test(self, admin: NamedDependency[AdminService]) -> Response[Envelope[SentryTestOut]]:
        del admin  # resolving it checked that the caller is a platform admin
        message_id = ErrorMonitoring.capture_message(
            "Sentry test message from /debug/sentry-test", level="warning", test=True
        )
        try:
            raise SentryTestError("Sentry test exception from /debug/sentry-test")
        except SentryTestError as exc:
            exception_id = ErrorMonitoring.capture_exception(exc, test=True)
        return create_success_response(
            SentryTestOut(
                sentry_enabled=ErrorMonitoring.enabled,
                message_event_id=message_id,
                exception_event_id=exception_id,
            )
        )
