"""The benchmark's HTTP baselines answer `GET /orgs/{org_id}/items/{item_id}` exactly as the service
does: the same `data` (fields and values) for a live item, 404 for an unknown or deleted one.

Each baseline runs in-process through httpx's ASGI transport (with its lifespan driven here, as
granian drives it), and once more served by granian itself, the way the benchmark serves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import msgspec
import pytest
from bench.baselines.floor import GET_ITEM_SQL

from app.core.db import SQL_DIR
from app.core.ids import new_id
from tests.factories import Client, expect_data
from tests.items.item_helpers import item_url
from tests.orgs.org_helpers_orgs import Pool, org_with

ROOT = Path(__file__).resolve().parents[2]
BASELINES = ("floor", "orm")
METADATA = {"sku": "BW-1", "nested": {"list": [1, 2.5, None, True, "x"]}, "unicode": "caf\u00e9 \u2713"}


@dataclass
class Seeded:
    org_id: str
    item_id: str
    deleted_id: str
    service_data: dict[str, Any]


async def insert_item(db: Pool, org_id: str, created_by: str, *, deleted: bool = False) -> str:
    item_id = new_id()
    await db.execute(
        "INSERT INTO items (org_id, id, name, description, price, currency, tags, status, metadata,"
        " version, created_by_type, created_by, created_at, updated_at, deleted_at)"
        " VALUES ($1, $2, 'Blue widget', 'A widget, in blue.', 1999, 'EUR', $3, 'draft', $4::jsonb, 3,"
        " 'user', $5, now() - interval '1 day 00:00:00.123457', now(),"
        " CASE WHEN $6 THEN now() END)",
        UUID(org_id),
        item_id,
        ["sale", "blue"],
        msgspec.json.encode(METADATA).decode(),
        UUID(created_by),
        deleted,
    )
    return str(item_id)


@pytest.fixture(scope="module")
async def seeded(client: Client, db: Pool) -> Seeded:
    """An org, its owner and two items (one soft-deleted), plus what the service answers for the live one."""
    org_id, owner, _ = await org_with(client, db)
    item_id = await insert_item(db, org_id, owner.id)
    deleted_id = await insert_item(db, org_id, owner.id, deleted=True)
    service_data = expect_data(await client.get(item_url(org_id, item_id), headers=owner.headers))
    assert service_data["metadata"] == METADATA
    gone = await client.get(item_url(org_id, deleted_id), headers=owner.headers)
    assert gone.status_code == 404
    return Seeded(org_id, item_id, deleted_id, service_data)


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """Run the ASGI lifespan protocol around the block, as a server does."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
    task = asyncio.create_task(app(scope, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    started = await asyncio.wait_for(outbox.get(), timeout=10)
    if started["type"] != "lifespan.startup.complete":
        with contextlib.suppress(Exception):
            await task
        pytest.fail(f"lifespan startup failed: {started}")
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        stopped = await asyncio.wait_for(outbox.get(), timeout=10)
        await asyncio.wait_for(task, timeout=10)
        assert stopped["type"] == "lifespan.shutdown.complete", stopped


@pytest.fixture(params=BASELINES)
async def baseline(
    request: pytest.FixtureRequest, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of one baseline's `app`, running in this process on the test database."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    app = importlib.import_module(f"bench.baselines.{request.param}").app
    async with (
        lifespan(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client,
    ):
        yield client


def test_the_floor_runs_the_services_select() -> None:
    """The floor's statement is sql/items/get_item.sql, with asyncpg's positional parameters."""
    text = (SQL_DIR / "items" / "get_item.sql").read_text()
    body = " ".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    body = body.replace(":org_id", "$1").replace(":id", "$2").rstrip().removesuffix(";")
    assert " ".join(body.split()) == " ".join(GET_ITEM_SQL.split())


async def test_answers_the_same_data_as_the_service(baseline: httpx.AsyncClient, seeded: Seeded) -> None:
    response = await baseline.get(item_url(seeded.org_id, seeded.item_id))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["data"]
    assert body["data"] == seeded.service_data
    # Same field names in the same order, and the same ISO strings for uuids and timestamps.
    assert list(body["data"]) == list(seeded.service_data)
    assert re.search(r"\.\d{6}Z$", body["data"]["created_at"]), body["data"]["created_at"]


async def test_unknown_or_deleted_items_are_404(baseline: httpx.AsyncClient, seeded: Seeded) -> None:
    for item_id in (str(new_id()), seeded.deleted_id):
        response = await baseline.get(item_url(seeded.org_id, item_id))
        assert response.status_code == 404, response.text
        assert response.headers["content-type"].startswith("application/json")
        response.json()
    other_org = await baseline.get(item_url(str(new_id()), seeded.item_id))
    assert other_org.status_code == 404


# --- served by granian, the way the benchmark serves them -------------------------------------

READY_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_command(module: str, port: int) -> list[str]:
    return [
        sys.executable,
        *("-m", "granian", "--interface", "asgi", "--loop", "uvloop", "--no-ws"),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
        f"bench.baselines.{module}:app",
    ]


def start(module: str, port: int, database_url: str, stderr_path: Path) -> subprocess.Popen[bytes]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DB_")}
    env["DATABASE_URL"] = database_url
    with stderr_path.open("wb") as stderr:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            serve_command(module, port),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,  # its own process group, so cleanup reaches the worker too
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server we started (its process group is its pid), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@pytest.mark.e2e
@pytest.mark.parametrize("module", BASELINES)
async def test_served_by_granian(module: str, database_url: str, seeded: Seeded, tmp_path: Path) -> None:
    port = free_port()
    stderr_path = tmp_path / "granian.stderr"
    process = start(module, port, database_url, stderr_path)
    url = item_url(seeded.org_id, seeded.item_id)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5.0) as http:
            deadline = time.monotonic() + READY_TIMEOUT
            response: httpx.Response | None = None
            while response is None:
                if process.poll() is not None:
                    pytest.fail(f"granian exited with {process.returncode}: {stderr_path.read_text()}")
                if time.monotonic() > deadline:
                    pytest.fail(f"granian was not ready in {READY_TIMEOUT} s: {stderr_path.read_text()}")
                try:
                    response = await http.get(url)
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            assert response.status_code == 200, response.text
            assert response.json() == {"data": seeded.service_data}
            missing = await http.get(item_url(seeded.org_id, str(new_id())))
            assert missing.status_code == 404
    finally:
        stop(process)
    assert process.returncode == 0, stderr_path.read_text()  # a clean shutdown on SIGTERM
    assert "Traceback" not in stderr_path.read_text(), stderr_path.read_text()
