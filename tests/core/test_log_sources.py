"""Every logger, ours or a library's (granian, asyncpg, litestar), writes the same JSON line;
the access line names the caller and the organization."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator

import pytest

from app.core.logging import configure_logging
from tests.core.conftest import JsonLines
from tests.factories import Client, signed_in_user

CONTEXT_KEYS = {"timestamp", "level", "logger", "message", "request_id", "user_id", "org_id"}


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the root and granian loggers back as they were after configure_logging ran."""
    names = ("", "_granian", "granian.access")
    saved = [
        (logging.getLogger(n), logging.getLogger(n).handlers[:], logging.getLogger(n).propagate)
        for n in names
    ]
    level = logging.getLogger().level
    try:
        yield
    finally:
        for logger, handlers, propagate in saved:
            logger.handlers[:] = handlers
            logger.propagate = propagate
        logging.getLogger().setLevel(level)


@pytest.mark.parametrize("name", ["_granian", "granian.access", "asyncpg.pool", "litestar", "uvicorn.error"])
@pytest.mark.usefixtures("restore_logging")
def test_library_loggers_write_json_lines(capsys: pytest.CaptureFixture[str], name: str) -> None:
    # As granian does in each worker before the app configures logging.
    plain = logging.StreamHandler(sys.stdout)
    plain.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
    logging.getLogger("_granian").addHandler(plain)
    logging.getLogger("_granian").propagate = False

    configure_logging("INFO")
    logging.getLogger(name).warning("library says %s", "hello")

    (line,) = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert line.keys() >= CONTEXT_KEYS
    assert (line["logger"], line["level"], line["message"]) == (name, "WARNING", "library says hello")


async def test_access_line_names_the_org_and_its_caller(client: Client, json_log: JsonLines) -> None:
    user = await signed_in_user(client)
    created = await client.post(
        "/orgs", json={"name": "Access Log Org", "slug": f"access-log-{user.id[-8:]}"}, headers=user.headers
    )
    assert created.status_code == 201, created.text
    org_id = created.json()["data"]["id"]
    json_log.lines.clear()

    response = await client.get(f"/orgs/{org_id}", headers=user.headers)

    assert response.status_code == 200
    access = [json.loads(line) for line in json_log.lines if '"app.access"' in line]
    assert len(access) == 1
    assert (access[0]["user_id"], access[0]["org_id"]) == (user.id, org_id)
