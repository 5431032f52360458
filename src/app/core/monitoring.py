"""Error monitoring: a small facade over sentry-sdk so features never import Sentry directly.

`ErrorMonitoring.init_sentry(settings)` enables it when `SENTRY_DSN` is set and is a no-op
otherwise; every capture method is then a cheap no-op too. Events are scrubbed before they
leave the process: passwords, tokens, secrets, cookies and Authorization headers are replaced.
Expected client errors (4xx) are dropped: they are outcomes, not faults.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import sentry_sdk
from sentry_sdk.integrations.litestar import LitestarIntegration
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.transport import Transport
from sentry_sdk.types import Event, Hint

from app.core.config import Settings
from app.core.context import current_request_id
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
    """Process-wide Sentry facade."""

    enabled: bool = False

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
        sentry_sdk.init(
            dsn=settings.sentry_dsn,
            environment=settings.environment,
            release=settings.release,
            traces_sample_rate=settings.sentry_traces_sample_rate,
            profiles_sample_rate=settings.sentry_profiles_sample_rate,
            max_request_body_size="never",
            include_local_variables=False,
            before_send=_before_send,
            integrations=[
                LitestarIntegration(),
                # Log records become breadcrumbs; only explicit captures become events.
                LoggingIntegration(event_level=None),
            ],
            **options,
        )
        cls.enabled = True
        return True

    @staticmethod
    def capture_exception(exc: BaseException, **context: Any) -> None:
        if context:
            with sentry_sdk.new_scope() as scope:
                scope.set_context("app", scrub(context))
                sentry_sdk.capture_exception(exc)
        else:
            sentry_sdk.capture_exception(exc)

    @staticmethod
    def capture_message(message: str, level: Level = "info", **context: Any) -> None:
        if context:
            with sentry_sdk.new_scope() as scope:
                scope.set_context("app", scrub(context))
                sentry_sdk.capture_message(message, level=level)
        else:
            sentry_sdk.capture_message(message, level=level)

    @staticmethod
    def add_breadcrumb(message: str, category: str = "app", level: Level = "info", **data: Any) -> None:
        sentry_sdk.add_breadcrumb(message=message, category=category, level=level, data=scrub(data))

    @staticmethod
    def set_user(user_id: str | None) -> None:
        """Tag events with the caller's id only: no email, name or IP address (PII)."""
        sentry_sdk.set_user({"id": user_id} if user_id else None)

    @classmethod
    def flush(cls, timeout: float = 2.0) -> None:
        if cls.enabled:
            sentry_sdk.flush(timeout=timeout)
