"""Error monitoring: a small facade over sentry-sdk so features never import Sentry directly.

`ErrorMonitoring.init_sentry(settings)` enables it when `SENTRY_DSN` is set and is a no-op
otherwise; every capture method is then a cheap no-op too. Events are scrubbed before they
leave the process: passwords, tokens, secrets, cookies and Authorization headers are replaced.
Expected client errors (4xx) are dropped: they are outcomes, not faults.

Also here: `@monitor_performance("name")` (a Sentry span when tracing is on, and a duration in
`app_operation_duration_seconds`), and `AlertManager` (operator alerts: Sentry plus an optional
Slack-compatible webhook, de-duplicated across processes).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import inspect
import logging
import re
import time
from collections.abc import Callable, Coroutine, Generator, Mapping
from typing import Any, ClassVar, Literal, ParamSpec, TypeVar, cast

import httpx
import sentry_sdk
from redis.asyncio import Redis
from sentry_sdk.integrations.litestar import LitestarIntegration
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.transport import Transport
from sentry_sdk.types import Event, Hint

from app.core.config import Settings
from app.core.context import RequestContext, current_context, current_request_id
from app.core.exceptions import is_expected_error
from app.core.metrics import ALERTS, DB_POOL_ACQUIRE_TIMEOUTS, OPERATION_DURATION

__all__ = ["AlertManager", "ErrorMonitoring", "Severity", "measure", "monitor_performance", "scrub"]

logger = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")
Severity = Literal["critical", "warning", "info"]

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
    def capture_exception(cls, exc: BaseException, **context: Any) -> str | None:
        """Report `exc`; returns the Sentry event id (None when disabled or dropped)."""
        with sentry_sdk.new_scope() as scope:
            cls._request_data(scope)
            if context:
                scope.set_context("app", scrub(context))
            return sentry_sdk.capture_exception(exc)

    @classmethod
    def capture_message(cls, message: str, level: Level = "info", **context: Any) -> str | None:
        """Report a message; returns the Sentry event id (None when disabled or dropped)."""
        with sentry_sdk.new_scope() as scope:
            cls._request_data(scope)
            if context:
                scope.set_context("app", scrub(context))
            return sentry_sdk.capture_message(message, level=level)

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


# ---- performance ------------------------------------------------------------------------------


@contextlib.contextmanager
def measure(name: str, *, op: str = "function") -> Generator[None]:
    """Time a block as operation `name` (and a Sentry span when tracing is on)."""
    histogram = OPERATION_DURATION.labels(name)
    started = time.perf_counter()
    try:
        if ErrorMonitoring.tracing:
            with sentry_sdk.start_span(op=op, name=name):
                yield
        else:
            yield
    finally:
        histogram.observe(time.perf_counter() - started)


def monitor_performance(name: str, *, op: str = "function") -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a function (async or not) so each call is timed as operation `name`.

    The duration goes to `app_operation_duration_seconds{operation=name}`, failed calls
    included; with Sentry tracing on, each call is also a span (`op`, `name`) of the current
    transaction. Without tracing the cost is a clock read and a histogram update (about a
    microsecond): meant for operations that take milliseconds (hashing, deliveries, jobs),
    not for the per-request hot path. `name` must be a constant: it is a label value.
    """

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        histogram = OPERATION_DURATION.labels(name)
        if inspect.iscoroutinefunction(func):
            coroutine_function = cast("Callable[P, Coroutine[Any, Any, Any]]", func)

            @functools.wraps(func)
            async def timed_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                started = time.perf_counter()
                try:
                    if ErrorMonitoring.tracing:
                        with sentry_sdk.start_span(op=op, name=name):
                            return await coroutine_function(*args, **kwargs)
                    return await coroutine_function(*args, **kwargs)
                finally:
                    histogram.observe(time.perf_counter() - started)

            return cast("Callable[P, R]", timed_async)

        @functools.wraps(func)
        def timed(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.perf_counter()
            try:
                if ErrorMonitoring.tracing:
                    with sentry_sdk.start_span(op=op, name=name):
                        return func(*args, **kwargs)
                return func(*args, **kwargs)
            finally:
                histogram.observe(time.perf_counter() - started)

        return timed

    return decorate


# ---- alerts -----------------------------------------------------------------------------------

_SENTRY_LEVELS: dict[str, Level] = {"critical": "fatal", "warning": "warning", "info": "info"}
_COLORS = {"critical": "#d00000", "warning": "#f2a900", "info": "#2f80ed"}
_DEDUPE_KEY_PREFIX = "app:alert:"


class AlertManager:
    """Tells operators that something needs them: a Sentry message and, with a webhook URL, a
    Slack-compatible POST (Slack, Mattermost, Rocket.Chat and most chat tools accept it).

    The same `title` is sent at most once per `dedupe_seconds`: first in this process, then
    across processes with one Redis ``SET NX EX`` (if Redis is down, each process still sends
    at most once per window). `send` never raises: a failed webhook is logged. Titles are
    constants (a metric label); the details go in `message` and `context`, which are scrubbed.

    One manager per process is installed with `configure` and used through the class methods
    (`AlertManager.send_alert(...)`, and the hooks `pool_exhausted`, `database_unreachable`).
    """

    _installed: ClassVar[AlertManager | None] = None
    _background: ClassVar[set[asyncio.Task[Any]]] = set()

    def __init__(
        self,
        *,
        webhook_url: str | None = None,
        dedupe_seconds: float = 300.0,
        timeout_seconds: float = 5.0,
        redis: Redis | None = None,
        environment: str = "development",
    ) -> None:
        self.webhook_url = webhook_url
        self.dedupe_seconds = dedupe_seconds
        self.timeout_seconds = timeout_seconds
        self.environment = environment
        self._redis = redis
        self._recent: dict[str, float] = {}  # title -> monotonic time until which it is muted
        self._client: httpx.AsyncClient | None = None

    # ---- the process-wide manager -----------------------------------------------------------

    @classmethod
    def configure(cls, settings: Settings, redis: Redis | None = None) -> AlertManager:
        """Install the process's manager from the settings (ALERT_*); returns it."""
        manager = cls(
            webhook_url=settings.alert_webhook_url,
            dedupe_seconds=settings.alert_dedupe_seconds,
            timeout_seconds=settings.alert_webhook_timeout_seconds,
            redis=redis,
            environment=settings.environment,
        )
        cls._installed = manager
        return manager

    @classmethod
    def installed(cls) -> AlertManager:
        """The installed manager (a Sentry-only one until `configure` runs)."""
        if cls._installed is None:
            cls._installed = cls()
        return cls._installed

    @classmethod
    async def send_alert(
        cls,
        title: str,
        message: str,
        severity: Severity = "warning",
        context: Mapping[str, Any] | None = None,
    ) -> bool:
        """Send through the installed manager; True if sent, False if a duplicate."""
        return await cls.installed().send(title, message, severity, context)

    @classmethod
    def fire(
        cls,
        title: str,
        message: str,
        severity: Severity = "warning",
        context: Mapping[str, Any] | None = None,
    ) -> None:
        """`send_alert` in the background, for code that must not wait (a request failing fast)."""
        manager = cls.installed()
        if not manager.would_send(title):
            manager.count(title, severity, sent=False)
            return  # muted here: not even a task
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            logger.warning("alert raised outside the event loop, not sent", extra={"alert": title})
            return
        task = loop.create_task(manager.send(title, message, severity, context))
        cls._background.add(task)
        task.add_done_callback(cls._background.discard)

    @classmethod
    async def drain(cls, wait_seconds: float = 5.0) -> None:
        """Wait (at most `wait_seconds`) for alerts still being sent in the background (at shutdown)."""
        if cls._background:
            await asyncio.wait(set(cls._background), timeout=wait_seconds)

    @classmethod
    def pool_exhausted(cls) -> None:
        """Hook for app.core.db: no pooled connection freed up within DB_POOL_ACQUIRE_TIMEOUT."""
        DB_POOL_ACQUIRE_TIMEOUTS.inc()
        cls.fire(
            "Database pool exhausted",
            "A request waited DB_POOL_ACQUIRE_TIMEOUT for a database connection in vain and got 503.",
            "critical",
        )

    @classmethod
    def database_unreachable(cls, error: BaseException | str) -> None:
        """Hook for code that saw the database fail to answer (readiness probe, pool, worker)."""
        description = error if isinstance(error, str) else type(error).__name__
        cls.fire(
            "Database unreachable",
            "The database did not answer a connection or a query.",
            "critical",
            {"error": description},
        )

    # ---- one manager ------------------------------------------------------------------------

    def would_send(self, title: str) -> bool:
        """False while `title` is muted in this process (sent within the window)."""
        return self._recent.get(title, 0.0) <= time.monotonic()

    def count(self, title: str, severity: Severity, *, sent: bool) -> None:
        ALERTS.labels(title, severity, "sent" if sent else "suppressed").inc()

    async def send(
        self,
        title: str,
        message: str,
        severity: Severity = "warning",
        context: Mapping[str, Any] | None = None,
    ) -> bool:
        """Send the alert unless it is a duplicate within the window; never raises."""
        try:
            if not await self._claim(title):
                self.count(title, severity, sent=False)
                return False
            self.count(title, severity, sent=True)
            details = scrub(dict(context or {}))
            logger.warning(
                "alert", extra={"alert": title, "severity": severity, "detail": message, "context": details}
            )
            ErrorMonitoring.capture_message(
                f"{title}: {message}", level=_SENTRY_LEVELS[severity], alert=title, details=details
            )
            if self.webhook_url and not await self._post(title, message, severity, details):
                # Undelivered: let the next occurrence (here or in another process) try again.
                await self._release(title)
        except Exception:  # an alert must never break its caller
            logger.exception("alert could not be sent", extra={"alert": title})
        return True

    async def _claim(self, title: str) -> bool:
        """Take the right to send `title` now: in this process, then across processes."""
        if self.dedupe_seconds <= 0:
            return True
        now = time.monotonic()
        if self._recent.get(title, 0.0) > now:
            return False
        self._recent[title] = now + self.dedupe_seconds
        if len(self._recent) > 1_000:  # titles are constants; this only guards against misuse
            self._recent = {key: until for key, until in self._recent.items() if until > now}
        if self._redis is None:
            return True
        key = self._dedupe_key(title)
        try:
            async with asyncio.timeout(1.0):
                claimed = await self._redis.set(key, "1", nx=True, ex=max(1, round(self.dedupe_seconds)))
        except Exception as exc:  # noqa: BLE001 - Redis down: this process's window still applies
            logger.warning("alert dedupe: Redis unavailable", extra={"error": type(exc).__name__})
            return True
        return bool(claimed)

    @staticmethod
    def _dedupe_key(title: str) -> str:
        return _DEDUPE_KEY_PREFIX + hashlib.sha256(title.encode()).hexdigest()[:32]

    async def _release(self, title: str) -> None:
        self._recent.pop(title, None)
        if self._redis is None:
            return
        try:
            async with asyncio.timeout(1.0):
                await self._redis.delete(self._dedupe_key(title))
        except Exception as exc:  # noqa: BLE001 - the key expires with the window anyway
            logger.warning("alert dedupe: Redis unavailable", extra={"error": type(exc).__name__})

    def slack_payload(
        self, title: str, message: str, severity: Severity, context: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The JSON body of the webhook: `text` for every client, an attachment for the details."""
        fields = [{"title": str(key), "value": str(value), "short": True} for key, value in context.items()]
        return {
            "text": f"[{severity.upper()}] {title}: {message}",
            "attachments": [
                {
                    "fallback": f"[{severity.upper()}] {title}",
                    "color": _COLORS[severity],
                    "title": title,
                    "text": message,
                    "fields": [*fields, {"title": "environment", "value": self.environment, "short": True}],
                    "ts": int(time.time()),
                }
            ],
        }

    async def _post(self, title: str, message: str, severity: Severity, context: Mapping[str, Any]) -> bool:
        """Whether the webhook took the alert (2xx)."""
        assert self.webhook_url is not None
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_seconds, follow_redirects=False)
        payload = self.slack_payload(title, message, severity, context)
        try:
            response = await self._client.post(self.webhook_url, json=payload)
        except httpx.HTTPError as exc:
            logger.warning("alert webhook failed", extra={"alert": title, "error": type(exc).__name__})
            return False
        if response.status_code >= 300:
            logger.warning("alert webhook refused", extra={"alert": title, "status": response.status_code})
            return False
        return True

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
