"""Structured logs: one JSON object per line, request context on every line, one access line
per request."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from app.core.context import RequestContext, set_context
from app.core.logging import JsonFormatter
from tests.core.conftest import JsonLines
from tests.factories import Client, signed_in_user

CONTEXT_KEYS = {"timestamp", "level", "logger", "message", "request_id", "user_id", "org_id"}


def record(
    message: str = "hello %s",
    args: tuple[Any, ...] = ("world",),
    *,
    level: int = logging.INFO,
    extra: dict[str, Any] | None = None,
    exc_info: Any = None,
) -> logging.LogRecord:
    logger = logging.getLogger("tests.core.logging")
    return logger.makeRecord(logger.name, level, __file__, 1, message, args, exc_info, extra=extra)


def parse(line: str) -> dict[str, Any]:
    assert "\n" not in line
    assert "\r" not in line
    parsed = json.loads(line)
    assert isinstance(parsed, dict)
    return parsed  # pyright: ignore[reportUnknownVariableType]


@pytest.fixture
def request_context() -> Iterator[RequestContext]:
    context = RequestContext("req-123")
    context.user_id = "user-1"
    context.org_id = "org-1"
    set_context(context)
    try:
        yield context
    finally:
        set_context(None)


def test_line_has_the_standard_members() -> None:
    line = parse(JsonFormatter().format(record(level=logging.WARNING)))

    assert line.keys() >= CONTEXT_KEYS
    assert line["level"] == "WARNING"
    assert line["logger"] == "tests.core.logging"
    assert line["message"] == "hello world"
    assert line["request_id"] is None
    assert line["user_id"] is None
    assert line["org_id"] is None


def test_timestamp_is_utc_iso_8601() -> None:
    line = parse(JsonFormatter().format(record()))

    stamp = datetime.fromisoformat(line["timestamp"])
    assert stamp.utcoffset() is not None
    assert stamp.utcoffset() == UTC.utcoffset(None)
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60


def test_line_carries_the_request_context(request_context: RequestContext) -> None:
    line = parse(JsonFormatter().format(record()))

    assert line["request_id"] == request_context.request_id
    assert line["user_id"] == "user-1"
    assert line["org_id"] == "org-1"


def test_extras_become_members_and_odd_values_are_stringified() -> None:
    an_id = uuid.uuid4()
    extra = {"order_id": an_id, "count": 3, "ratio": 0.5, "flag": True, "nothing": None, "tags": ["a"]}

    line = parse(JsonFormatter().format(record(extra=extra)))

    assert line["order_id"] == str(an_id)
    assert line["count"] == 3
    assert line["ratio"] == 0.5
    assert line["flag"] is True
    assert line["nothing"] is None
    assert line["tags"] == ["a"]
    assert "args" not in line
    assert "msg" not in line
    assert "levelno" not in line


def test_multiline_message_and_traceback_stay_on_one_line() -> None:
    try:
        raise ValueError("first\nsecond")
    except ValueError:
        exc_info = sys.exc_info()

    formatted = JsonFormatter().format(
        record("line one\nline two", (), exc_info=exc_info, level=logging.ERROR)
    )

    line = parse(formatted)
    assert line["message"] == "line one\nline two"
    assert "ValueError: first" in line["exception"]
    assert "Traceback" in line["exception"]


async def test_lines_within_a_request_carry_its_id(raising_client: Client, json_log: JsonLines) -> None:
    response = await raising_client.get("/test/raise/runtime", headers={"X-Request-ID": "log-req-1"})

    assert response.status_code == 500
    lines = [parse(text) for text in json_log.lines]
    error = [line for line in lines if line["logger"] == "app.core.exceptions"]
    assert len(error) == 1, lines
    assert error[0]["level"] == "ERROR"
    assert error[0]["request_id"] == "log-req-1"
    assert "RuntimeError" in error[0]["exception"]
    assert all(line["request_id"] == "log-req-1" for line in lines), lines


async def test_concurrent_requests_keep_their_own_ids(raising_client: Client, json_log: JsonLines) -> None:
    ids = [f"log-conc-{n}" for n in range(10)]

    await asyncio.gather(
        *(raising_client.get("/test/raise/runtime", headers={"X-Request-ID": rid}) for rid in ids)
    )

    lines = [parse(text) for text in json_log.lines]
    for rid in ids:
        mine = [line for line in lines if line["request_id"] == rid]
        assert {line["logger"] for line in mine} == {"app.core.exceptions", "app.access"}, mine


def access_lines(json_log: JsonLines) -> list[dict[str, Any]]:
    return [line for line in map(parse, json_log.lines) if line["logger"] == "app.access"]


async def test_one_access_line_per_request(client: Client, json_log: JsonLines) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": "access-1"})

    lines = access_lines(json_log)
    assert len(lines) == 1, lines
    line = lines[0]
    assert line["level"] == "INFO"
    assert line["request_id"] == "access-1" == response.headers["x-request-id"]
    assert line["method"] == "GET"
    assert line["path"] == "/health/live"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], int | float)
    assert line["duration_ms"] >= 0
    assert line["user_id"] is None


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/no/such/route", 404), ("DELETE", "/health/live", 405), ("POST", "/auth/login", 422)],
)
async def test_access_line_for_errors(
    client: Client, json_log: JsonLines, method: str, path: str, status: int
) -> None:
    await client.request(method, path, json={} if method == "POST" else None)

    lines = access_lines(json_log)
    assert [(line["method"], line["path"], line["status"]) for line in lines] == [(method, path, status)]


async def test_access_line_for_500(raising_client: Client, json_log: JsonLines) -> None:
    await raising_client.get("/test/raise/runtime")

    lines = access_lines(json_log)
    assert [(line["path"], line["status"]) for line in lines] == [("/test/raise/runtime", 500)]


async def test_access_line_names_the_signed_in_user(client: Client, json_log: JsonLines) -> None:
    user = await signed_in_user(client)
    json_log.lines.clear()

    response = await client.get("/users/me", headers=user.headers)

    assert response.status_code == 200
    lines = access_lines(json_log)
    assert len(lines) == 1
    assert lines[0]["user_id"] == user.id
    assert lines[0]["status"] == 200


async def test_access_line_has_no_query_string_or_credentials(client: Client, json_log: JsonLines) -> None:
    user = await signed_in_user(client)
    json_log.lines.clear()

    await client.get("/users/me?token=query-secret-123", headers=user.headers)

    text = "\n".join(json_log.lines)
    assert "query-secret-123" not in text
    assert user.access_token not in text
    assert access_lines(json_log)[0]["path"] == "/users/me"


async def test_no_line_leaks_a_password(client: Client, json_log: JsonLines) -> None:
    password = "a-very-secret-password-42"
    await client.post("/auth/login", json={"login": "nobody@example.com", "password": password})
    await client.post("/auth/register", json={"email": "bad", "username": "x", "password": password})

    assert json_log.lines
    assert password not in "\n".join(json_log.lines)
