"""Error monitoring: a small facade over sentry-sdk so features never import Sentry directly.

`ErrorMonitoring.init_sentry(settings)` enables it when `SENTRY_DSN` is set and is a no-op
otherwise; every capture method is then a cheap no-op too. Events are scrubbed before they
leave the process: passwords, tokens, secrets, cookies and Authorization headers are replaced.
Expected client errors (4xx) are dropped: they are outcomes, not faults.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Literal

import sentry_sdk
from sentry_sdk.integrations.litestar import LitestarIntegration
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.transport import Transport
from sentry_sdk.types import Event, Hint

from app.core.config import Settings
from app.core.context import RequestContext, current_context, current_request_id
from app.core.exceptions import is_expected_error

__all__ = ["ErrorMonitoring", "scrub"]

Level = Literal["fatal", "error", "warning", "info", "debug"]
FILTERED = "[Filtered]"
_SENSITIVE_WORDS = r"pass(?:word)?|secret|token|authorization|cookie|api[-_]?key|signature|credential|session"
_SENSITIVE_KEY = re.compile(_SENSITIVE_WORDS, re.IGNORECASE)
# Inside a string: bearer tokens, JWTs, our `sk_` API keys, and the value of any `key=value`
# pair whose key is sensitive (query strings such as `?access_token=...&password=...`).
_SENSITIVE_VALUE = re.compile(
    r"(Bearer\s+)\S+"
    r"|eyJ[\w-]+\.[\w-]+\.[\w-]*"
    r"|\bsk_[A-Za-z0-9_]{8,}"
    rf"|(\b[\w.-]*(?:{_SENSITIVE_WORDS})[\w.-]*=)[^&\s#]*",
    re.IGNORECASE,
)


def scrub(value: Any) -> Any:
    """Recursively replace values under sensitive keys and token-shaped substrings."""
    if isinstance(value, dict):
        clean: dict[Any, Any] = {}
        for key, item in value.items():  # pyright: ignore[reportUnknownVariableType]
            if isinstance(key, str) and _SENSITIVE_KEY.search(key):
                clean[key] = FILTERED
            else:
                clean[key] = scrub(item)
        return clean
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, str):
        return _SENSITIVE_VALUE.sub(lambda m: (m.group(1) or m.group(2) or "") + FILTERED, value)
    return value


def _before_send(event: Event, hint: Hint) -> Event | None:
    exc_info = hint.get("exc_info")
    if exc_info and is_expected_error(exc_info[1]):
        return None
    request_id = current_request_id()
    if request_id:
        event.setdefault("tags", {})["request_id"] = request_id  # pyright: ignore[reportIndexIssue]
    return scrub(event)


class ErrorMonitoring:
    """Process-wide Sentry facade.

    Two modes. With a traces or profiles sample rate above zero, Sentry's Litestar integration
    instruments every request (spans, transactions). With both at zero (the default), the
    service runs Sentry errors-only: no per-request instrumentation, which measured here cost
    half the throughput of a cached read (bench/, docs/BENCHMARKS.md), only a fresh isolation
    scope per request (`request_scope`) and the `report_request_error` hook for unexpected
    exceptions, with the request's method, path and scrubbed query string.
    """

    enabled: bool = False
    tracing: bool = False

    @classmethod
    def init_sentry(cls, settings: Settings, *, transport: type[Transport] | Transport | None = None) -> bool:
        """Start Sentry if a DSN is configured; returns whether it is enabled.

        Must run before the Litestar app is built: the integration hooks its constructor.
        `transport` lets tests keep events in memory.
        """
        if not settings.sentry_dsn:
            cls.enabled = False
            return False
        options: dict[str, Any] = {}
        if transport is not None:
            options["transport"] = transport
        tracing = settings.sentry_traces_sample_rate > 0 or settings.sentry_profiles_sample_rate > 0
        # Only explicit captures become events. With tracing (a scope per request), log records
        # become breadcrumbs; errors-only, they do not (see the class docstring).
        integrations: list[Any] = [
            LoggingIntegration(level=logging.INFO if tracing else None, event_level=None)
        ]
        if tracing:
            integrations.append(LitestarIntegration())
        else:
            # Without tracing, the auto-enabled integrations (Litestar, Redis, ...) would only
            # add per-call overhead: errors are reported by report_request_error instead.
            options["auto_enabling_integrations"] = False
            options["auto_session_tracking"] = False
        sentry_sdk.init(
            dsn=settings.sentry_dsn,
            environment=settings.environment,
            release=settings.release,
            traces_sample_rate=settings.sentry_traces_sample_rate if tracing else None,
            profiles_sample_rate=settings.sentry_profiles_sample_rate if tracing else None,
            max_request_body_size="never",
            include_local_variables=False,
            before_send=_before_send,
            integrations=integrations,
            **options,
        )
        cls.enabled = True
        cls.tracing = tracing
        return True

    @classmethod
    def _in_request(cls) -> RequestContext | None:
        """The current request's context when Sentry runs errors-only (no scope per request)."""
        return current_context() if not cls.tracing else None

    @classmethod
    async def report_request_error(cls, exc: Exception, scope: Any) -> None:
        """Litestar ``after_exception`` hook: report an unexpected error with its request."""
        if not cls.enabled or cls.tracing or is_expected_error(exc):
            return
        request = {
            "method": scope.get("method"),
            "url": scope.get("path"),
            "query_string": (scope.get("query_string") or b"").decode("latin-1"),
        }

        def add_request(event: Event, _: Hint) -> Event:
            event["request"] = request  # pyright: ignore[reportGeneralTypeIssues]
            return event

        with sentry_sdk.new_scope() as event_scope:
            cls._request_data(event_scope)
            event_scope.add_event_processor(add_request)
            sentry_sdk.capture_exception(exc)

    @classmethod
    def _request_data(cls, scope: sentry_sdk.Scope) -> None:
        context = cls._in_request()
        if context is None:
            return
        if context.user_id:
            scope.set_user({"id": context.user_id})
        if context.org_id:
            scope.set_tag("org_id", context.org_id)

    @classmethod
    def capture_exception(cls, exc: BaseException, **context: Any) -> None:
        with sentry_sdk.new_scope() as scope:
            cls._request_data(scope)
            if context:
                scope.set_context("app", scrub(context))
            sentry_sdk.capture_exception(exc)

    @classmethod
    def capture_message(cls, message: str, level: Level = "info", **context: Any) -> None:
        with sentry_sdk.new_scope() as scope:
            cls._request_data(scope)
            if context:
                scope.set_context("app", scrub(context))
            sentry_sdk.capture_message(message, level=level)

    @classmethod
    def add_breadcrumb(cls, message: str, category: str = "app", level: Level = "info", **data: Any) -> None:
        if cls._in_request() is not None:
            return  # errors-only: no scope of its own to keep it in
        sentry_sdk.add_breadcrumb(message=message, category=category, level=level, data=scrub(data))

    @classmethod
    def set_user(cls, user_id: str | None) -> None:
        """Tag events with the caller's id only: no email, name or IP address (PII)."""
        context = cls._in_request()
        if context is not None:
            context.user_id = user_id
            return
        sentry_sdk.set_user({"id": user_id} if user_id else None)

    @classmethod
    def flush(cls, timeout: float = 2.0) -> None:
        if cls.enabled:
            sentry_sdk.flush(timeout=timeout)
