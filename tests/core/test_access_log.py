"""The access log writes its JSON lines itself (not through `logging`): same shape, same level rule."""

from __future__ import annotations

import asyncio
import json
import logging
import sys

import pytest

from app.core.access_log import AccessLog, StdoutSink
from app.core.context import RequestContext
from app.core.logging import get_logger

SHARED_FIELDS = {"timestamp", "level", "logger", "message", "request_id", "user_id", "org_id"}


def test_a_line_reaches_stdout_as_json_after_earlier_log_lines(capfd: pytest.CaptureFixture[str]) -> None:
    context = RequestContext("req-abc", "10.0.0.7")
    context.user_id = "user-1"
    handler = logging.StreamHandler(sys.stdout)
    logger = get_logger("app.test_access_order")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        logger.info("before")
        AccessLog().write(context, "GET", "/orgs/x/items", 200, 1.25)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True

    out = capfd.readouterr().out.splitlines()
    assert out[0] == "before"
    line = json.loads(out[1])
    assert line.keys() >= SHARED_FIELDS
    assert line["logger"] == "app.access"
    assert line["level"] == "INFO"
    assert line["message"] == "request"
    assert (line["request_id"], line["user_id"], line["org_id"]) == ("req-abc", "user-1", None)
    assert (line["method"], line["path"], line["status"], line["duration_ms"]) == (
        "GET",
        "/orgs/x/items",
        200,
        1.25,
    )
    assert line["client_ip"] == "10.0.0.7"
    assert line["timestamp"].endswith("+00:00")


def test_the_app_access_logger_level_turns_it_off() -> None:
    access = AccessLog()
    logger = logging.getLogger("app.access")
    saved = logger.level
    try:
        logger.setLevel(logging.WARNING)
        assert not access.enabled()
        logger.setLevel(logging.INFO)
        assert access.enabled()
    finally:
        logger.setLevel(saved)


async def test_inside_the_event_loop_lines_are_flushed_together_soon_after(
    capfd: pytest.CaptureFixture[str],
) -> None:
    access = AccessLog()
    for n in range(3):
        access.write(RequestContext(f"req-{n}"), "GET", "/health/live", 200, 0.1)

    await asyncio.sleep(StdoutSink.FLUSH_SECONDS * 3)

    ids = [json.loads(line)["request_id"] for line in capfd.readouterr().out.splitlines()]
    assert ids == ["req-0", "req-1", "req-2"]
