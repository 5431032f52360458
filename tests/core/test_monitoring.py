"""Sentry through ErrorMonitoring: faults are reported once, scrubbed; client errors are not.

Events are kept in memory by a Transport subclass (no network). Each test that enables Sentry
disables it again in the fixture's finalizer, so the rest of the suite runs without it.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import sentry_sdk
from litestar import get, post
from litestar.params import FromPath, JSONBody
from litestar.testing import AsyncTestClient
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from app.core.config import Settings
from app.core.exceptions import ConflictError
from app.core.monitoring import FILTERED, ErrorMonitoring, scrub
from app.main import create_app
from tests.factories import Client

DSN = "http://public@127.0.0.1:9/1"
# Shaped like a real HS256 JWT; the signature part is what must never leave the process.
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwiaWF0IjoxNTE2MjM5MDIyfQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PASSWORD = "hunter2-correct-horse-battery"
API_KEY = "sk_live_4f9a8b7c6d5e4f3a2b1c"
SEND_DEFAULT_PII_DEPRECATED = "The send_default_pii option is deprecated"
# Until the bug above is fixed, the rest of this module must be able to enable Sentry at all.


class MemoryTransport(Transport):
    """Keeps envelopes instead of sending them."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)

    def events(self) -> list[dict[str, Any]]:
        """Error and message events (not sessions, transactions or client reports)."""
        found: list[dict[str, Any]] = []
        for envelope in self.envelopes:
            for item in envelope.items:
                if item.type == "event" and item.payload.json is not None:
                    found.append(item.payload.json)
        return found

    def raw(self) -> str:
        """Every byte that would have been sent, for searching for leaks."""
        return "\n".join(envelope.serialize().decode("utf-8", "replace") for envelope in self.envelopes)


@post("/test/sentry/fail", status_code=200)
async def fail_with_body(data: JSONBody[dict[str, Any]]) -> None:
    raise RuntimeError("boom while handling a request")


@get("/test/sentry/fail-with-secret/{kind:str}")
async def fail_with_secret(kind: FromPath[str]) -> None:
    secret = {"bearer": f"Bearer {JWT}", "jwt": JWT, "key": API_KEY}[kind]
    raise RuntimeError(f"upstream refused credentials {secret}")


@get("/test/sentry/conflict")
async def conflict() -> None:
    raise ConflictError()


def disable_sentry() -> None:
    """Back to the state of a process that never enabled Sentry.

    `sentry_sdk.init()` without a DSN is not enough: it still installs the auto-enabling
    integrations (Litestar's among them), which keep acting on apps built afterwards.
    """
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)
    ErrorMonitoring.enabled = False
    ErrorMonitoring.tracing = False
    assert not sentry_sdk.get_client().is_active()


@pytest.fixture
def transport() -> Iterator[MemoryTransport]:
    memory = MemoryTransport()
    try:
        yield memory
    finally:
        disable_sentry()


@pytest.fixture
async def sentry_client(
    make_settings: Callable[..., Settings], transport: MemoryTransport
) -> AsyncIterator[Client]:
    app = create_app(make_settings(sentry_dsn=DSN), sentry_transport=transport)
    app.register(fail_with_body)
    app.register(fail_with_secret)
    app.register(conflict)
    assert ErrorMonitoring.enabled
    async with AsyncTestClient(app) as test_client:
        yield test_client


@pytest.fixture
def sentry_only(make_settings: Callable[..., Settings], transport: MemoryTransport) -> MemoryTransport:
    """Sentry enabled through the facade, without an app."""
    assert ErrorMonitoring.init_sentry(make_settings(sentry_dsn=DSN), transport=transport)
    return transport


def exception_types(event: dict[str, Any]) -> list[str]:
    return [value["type"] for value in event.get("exception", {}).get("values", [])]


def test_enabling_sentry_emits_no_deprecation_warning(
    make_settings: Callable[..., Settings], transport: MemoryTransport
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ErrorMonitoring.init_sentry(make_settings(sentry_dsn=DSN), transport=transport)

    assert [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)] == []


# ---- the facade without a DSN -----------------------------------------------------------------


def test_without_dsn_monitoring_is_disabled_and_captures_are_no_ops(
    make_settings: Callable[..., Settings], transport: MemoryTransport
) -> None:
    disable_sentry()

    assert ErrorMonitoring.init_sentry(make_settings(), transport=transport) is False

    assert ErrorMonitoring.enabled is False
    assert not sentry_sdk.get_client().is_active()
    ErrorMonitoring.capture_message("nobody hears this", level="warning")
    ErrorMonitoring.capture_exception(RuntimeError("nor this"))
    ErrorMonitoring.flush()
    assert transport.envelopes == []


# ---- requests -----------------------------------------------------------------------------------


async def test_unhandled_error_is_reported_once(sentry_client: Client, transport: MemoryTransport) -> None:
    response = await sentry_client.post(
        "/test/sentry/fail", json={"note": "hello"}, headers={"X-Request-ID": "sentry-req-1"}
    )

    assert response.status_code == 500
    events = transport.events()
    assert len(events) == 1, events
    event = events[0]
    assert exception_types(event)[-1] == "RuntimeError"
    assert event["exception"]["values"][-1]["value"] == "boom while handling a request"
    assert event["level"] == "error"
    assert event["environment"] == "test"
    assert event["tags"]["request_id"] == "sentry-req-1"


async def test_reported_event_holds_no_credentials(sentry_client: Client, transport: MemoryTransport) -> None:
    response = await sentry_client.post(
        "/test/sentry/fail",
        json={"password": PASSWORD, "nested": {"api_key": API_KEY}, "note": "kept"},
        headers={"Authorization": f"Bearer {JWT}", "Cookie": f"session={JWT}"},
    )

    assert response.status_code == 500
    assert len(transport.events()) == 1
    raw = transport.raw()
    for secret in (JWT, JWT.rsplit(".", 1)[1], PASSWORD, API_KEY):
        assert secret not in raw, f"Sentry event leaks {secret!r}"
    headers = transport.events()[0].get("request", {}).get("headers", {})
    authorization = {k.lower(): v for k, v in headers.items()}.get("authorization")
    assert authorization in (None, "", FILTERED)


async def test_query_string_secrets_are_scrubbed(sentry_client: Client, transport: MemoryTransport) -> None:
    response = await sentry_client.get(
        "/test/sentry/fail-with-secret/key?access_token=opaque-secret-value&password=pw-in-query"
    )

    assert response.status_code == 500
    assert len(transport.events()) == 1
    raw = transport.raw()
    assert "opaque-secret-value" not in raw
    assert "pw-in-query" not in raw


@pytest.mark.parametrize("kind", ["bearer", "jwt", "key"])
async def test_credentials_inside_exception_messages_are_scrubbed(
    sentry_client: Client, transport: MemoryTransport, kind: str
) -> None:
    response = await sentry_client.get(f"/test/sentry/fail-with-secret/{kind}")

    assert response.status_code == 500
    events = transport.events()
    assert len(events) == 1
    assert "upstream refused credentials" in events[0]["exception"]["values"][-1]["value"]
    raw = transport.raw()
    for secret in (JWT, API_KEY):
        assert secret not in raw


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/no/such/route", None),
        ("DELETE", "/health/live", None),
        ("POST", "/auth/login", {}),
        ("POST", "/auth/login", {"login": "nobody@example.com", "password": PASSWORD}),
        ("GET", "/users/me", None),
        ("GET", "/test/sentry/conflict", None),
    ],
    ids=["404", "405", "422", "401-login", "401-token", "409"],
)
async def test_client_errors_are_not_reported(
    sentry_client: Client, transport: MemoryTransport, method: str, path: str, body: Any
) -> None:
    response = await sentry_client.request(method, path, json=body)

    assert 400 <= response.status_code < 500
    assert transport.events() == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="malformed"),
        pytest.param(b'{"login": "\xff"}', id="bad-utf8"),
    ],
)
async def test_bad_json_body_is_400_and_not_reported(
    sentry_client: Client, transport: MemoryTransport, body: bytes
) -> None:
    response = await sentry_client.post(
        "/auth/login", content=body, headers={"content-type": "application/json"}
    )

    assert (response.status_code, response.json()["code"]) == (400, "MALFORMED_JSON")
    assert transport.events() == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_non_json_body_is_415_and_not_reported(
    sentry_client: Client, transport: MemoryTransport, content_type: str
) -> None:
    response = await sentry_client.post(
        "/auth/login", content=b"login=ada&password=pw", headers={"content-type": content_type}
    )

    assert (response.status_code, response.json()["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")
    assert transport.events() == []


async def test_oversized_body_is_413_and_not_reported(
    sentry_client: Client, transport: MemoryTransport
) -> None:
    body = b'{"login": "' + b"x" * 1_100_000 + b'", "password": "p"}'

    response = await sentry_client.post(
        "/auth/login", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert transport.events() == []


# ---- the facade ---------------------------------------------------------------------------------


def test_capture_message_filters_sensitive_context(sentry_only: MemoryTransport) -> None:
    with sentry_sdk.isolation_scope():
        ErrorMonitoring.capture_message("x", level="warning", password="p", user_id="u")

    events = sentry_only.events()
    assert len(events) == 1
    event = events[0]
    assert event["message"] == "x"
    assert event["level"] == "warning"
    assert event["contexts"]["app"] == {"password": FILTERED, "user_id": "u"}


def test_capture_exception_with_context(sentry_only: MemoryTransport) -> None:
    try:
        raise ValueError("bad input")
    except ValueError as exc:
        with sentry_sdk.isolation_scope():
            ErrorMonitoring.capture_exception(exc, token=JWT, job="nightly")

    events = sentry_only.events()
    assert len(events) == 1
    assert exception_types(events[0]) == ["ValueError"]
    assert events[0]["contexts"]["app"] == {"token": FILTERED, "job": "nightly"}
    assert JWT not in sentry_only.raw()


def test_breadcrumbs_and_user_reach_the_next_event_scrubbed(sentry_only: MemoryTransport) -> None:
    with sentry_sdk.isolation_scope():
        ErrorMonitoring.set_user("user-42")
        ErrorMonitoring.add_breadcrumb("charged card", category="billing", password=PASSWORD, amount=5)
        ErrorMonitoring.capture_message("after breadcrumb")

    events = sentry_only.events()
    assert len(events) == 1
    assert events[0]["user"] == {"id": "user-42"}
    crumbs = [c for c in events[0]["breadcrumbs"]["values"] if c.get("message") == "charged card"]
    assert len(crumbs) == 1
    assert crumbs[0]["category"] == "billing"
    assert crumbs[0]["data"] == {"password": FILTERED, "amount": 5}
    assert PASSWORD not in sentry_only.raw()


def test_set_user_none_clears_the_user(sentry_only: MemoryTransport) -> None:
    with sentry_sdk.isolation_scope():
        ErrorMonitoring.set_user("user-42")
        ErrorMonitoring.set_user(None)
        ErrorMonitoring.capture_message("anonymous")

    events = sentry_only.events()
    assert len(events) == 1
    assert "id" not in (events[0].get("user") or {})


def test_breadcrumb_and_user_without_sentry_do_not_fail() -> None:
    disable_sentry()

    ErrorMonitoring.add_breadcrumb("nothing listens", password=PASSWORD)
    ErrorMonitoring.set_user("user-1")
    ErrorMonitoring.set_user(None)
    ErrorMonitoring.flush()


# ---- scrub ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "new_password",
        "Password",
        "passwd",
        "secret",
        "client_secret",
        "token",
        "refresh_token",
        "Authorization",
        "cookie",
        "Set-Cookie",
        "api_key",
        "X-Api-Key",
        "apikey",
        "signature",
        "credentials",
        "session",
    ],
)
def test_scrub_filters_sensitive_keys(key: str) -> None:
    assert scrub({key: "value-1", "plain": "value-2"}) == {key: FILTERED, "plain": "value-2"}


def test_scrub_recurses_into_nested_dicts_and_lists() -> None:
    event = {
        "request": {"data": {"user": {"password": "p1", "name": "ada"}}},
        "items": [{"token": "t1", "n": 1}, [{"secret": "s1"}], ("keep", {"api_key": "k1"})],
        "count": 3,
        "none": None,
    }

    clean = scrub(event)

    assert clean == {
        "request": {"data": {"user": {"password": FILTERED, "name": "ada"}}},
        "items": [{"token": FILTERED, "n": 1}, [{"secret": FILTERED}], ["keep", {"api_key": FILTERED}]],
        "count": 3,
        "none": None,
    }
    assert "p1" not in json.dumps(clean)


def test_scrub_does_not_modify_its_input() -> None:
    original = {"password": "p1", "nested": {"token": "t1"}}

    scrub(original)

    assert original == {"password": "p1", "nested": {"token": "t1"}}


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        (f"Authorization: Bearer {JWT}", "Authorization: Bearer ", JWT),
        ("header was bearer abc.def-ghi", "header was bearer ", "abc.def-ghi"),
        (f"token {JWT} rejected", " rejected", JWT),
        (f"key {API_KEY} revoked", " revoked", API_KEY),
        ("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "", "eyJzdWIiOiIxIn0"),
        ("page=2&access_token=opaque1&sort=name", "page=2&access_token=", "opaque1"),
        ("password=pw1&x=1", "&x=1", "pw1"),
        ("GET /reset?Reset-Token=zz9 HTTP/1.1", " HTTP/1.1", "zz9"),
    ],
    ids=["bearer", "bearer-lowercase", "jwt", "sk-key", "unsigned-jwt", "query", "query-start", "in-url"],
)
def test_scrub_removes_token_shaped_substrings(text: str, kept: str, gone: str) -> None:
    clean = scrub(text)

    assert gone not in clean
    assert kept in clean
    assert FILTERED in clean


@pytest.mark.parametrize(
    "text",
    ["user ada signed in", "sk_short", "order 1234 shipped", "eyJ alone", "task_id=abc"],
)
def test_scrub_keeps_ordinary_strings(text: str) -> None:
    assert scrub(text) == text


def test_scrub_keeps_non_string_scalars_and_keys() -> None:
    assert scrub({1: "one", "n": 2.5, "ok": True}) == {1: "one", "n": 2.5, "ok": True}


# ---- errors-only mode (no tracing): our own hook and a scope per request --------------------------


@get("/test/sentry/fail-as/{user:str}")
async def fail_as(user: FromPath[str]) -> None:
    if user != "nobody":
        ErrorMonitoring.set_user(user)
    raise RuntimeError(f"failed for {user}")


async def test_an_error_event_names_its_request_and_only_its_own_user(
    make_settings: Callable[..., Settings], transport: MemoryTransport
) -> None:
    app = create_app(make_settings(sentry_dsn=DSN), sentry_transport=transport)
    app.register(fail_as)
    assert not ErrorMonitoring.tracing
    async with AsyncTestClient(app) as client:
        assert (await client.get("/test/sentry/fail-as/user-a?page=2")).status_code == 500
        assert (await client.get("/test/sentry/fail-as/nobody")).status_code == 500

    first, second = transport.events()
    assert first["request"] == {
        "method": "GET",
        "url": "/test/sentry/fail-as/user-a",
        "query_string": "page=2",
    }
    assert first["user"] == {"id": "user-a"}
    assert "id" not in (second.get("user") or {})  # the first request's user stayed in its scope


async def test_with_tracing_the_litestar_integration_reports_once(
    make_settings: Callable[..., Settings], transport: MemoryTransport
) -> None:
    app = create_app(make_settings(sentry_dsn=DSN, sentry_traces_sample_rate=1.0), sentry_transport=transport)
    app.register(fail_with_body)
    assert ErrorMonitoring.tracing
    async with AsyncTestClient(app) as client:
        response = await client.post("/test/sentry/fail", json={})

    assert response.status_code == 500
    assert [exception_types(event)[-1] for event in transport.events()] == ["RuntimeError"]
