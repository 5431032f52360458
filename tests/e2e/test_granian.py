"""The real server: granian serving `app.main:app` over HTTP, started as in production.

DESIGN.md §7-8: `--interface asgi` always; a missing required setting stops start-up with one
line naming the variable; SIGTERM shuts down cleanly, sent only once the server is ready
(a SIGTERM while workers are still starting can hang granian's main process).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from app.dev.server import granian_command
from tests.factories import DEFAULT_PASSWORD, PROBLEM_MEDIA_TYPE, unique

if TYPE_CHECKING:  # imported by name, pytest would try to collect it as a test class
    from tests.services import TestServices

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
SERVER_ENV = {
    "ENVIRONMENT": "test",
    "SECRET_KEY": "e2e-secret-key-0123456789abcdef0123456789",
    "ARGON2_MEMORY_KIB": "8192",
    "ARGON2_TIME_COST": "1",
    "LOG_LEVEL": "WARNING",
}
# Settings the tests choose; anything of the same name in the caller's environment is dropped.
APP_VARIABLES = ("DATABASE_URL", "REDIS_URL", "ENVIRONMENT", "SECRET_KEY", "SENTRY_DSN", "ACCESS_LOG")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(**settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in APP_VARIABLES}
    env.update(SERVER_ENV)
    env.update(settings)
    return env


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    port: int
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def start(port: int, env: dict[str, str], tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    stderr_path = tmp_path / "granian.stderr"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            granian_command(host="127.0.0.1", port=str(port), options=("--workers", "1")),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,  # its own process group, so cleanup reaches the worker too
        )
    return process, stderr_path


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """Last-resort cleanup of the server we started (its process group is its pid)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


async def wait_ready(server: Server) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    async with httpx.AsyncClient(base_url=server.base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                pytest.fail(f"granian exited with {server.process.returncode}: {server.stderr()}")
            try:
                response = await client.get("/health/ready")
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code == 200:
                return
            await asyncio.sleep(0.1)
    pytest.fail(f"granian was not ready within {READY_TIMEOUT} s: {server.stderr()}")


@pytest.fixture
async def server(database_url: str, test_services: TestServices, tmp_path: Path) -> AsyncIterator[Server]:
    port = free_port()
    env = server_env(DATABASE_URL=database_url, REDIS_URL=test_services.redis_url)
    process, stderr_path = start(port, env, tmp_path)
    running = Server(process, f"http://127.0.0.1:{port}", port, stderr_path)
    try:
        await wait_ready(running)
        yield running
    finally:
        kill_group(process)


def port_is_closed(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except OSError:
        return True


async def test_serves_the_account_flow_over_http_and_stops_on_sigterm(server: Server) -> None:
    name = unique("e2e")
    email = f"{name}@example.com"
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as client:
        ready = await client.get("/health/ready")
        assert ready.json()["data"]["database"] == "ok"
        assert re.fullmatch(r"[0-9a-f]{32}", ready.headers["x-request-id"])

        registered = await client.post(
            "/auth/register",
            json={"email": email, "username": name, "password": DEFAULT_PASSWORD},
            headers={"X-Request-ID": "e2e-register-1"},
        )
        assert registered.status_code == 201, registered.text
        assert registered.headers["x-request-id"] == "e2e-register-1"
        user = registered.json()["data"]
        assert user["email"] == email

        login = await client.post("/auth/login", json={"login": name, "password": DEFAULT_PASSWORD})
        assert login.status_code == 200, login.text
        tokens = login.json()["data"]

        me = await client.get("/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert me.status_code == 200, me.text
        assert me.json()["data"]["id"] == user["id"]

        refreshed = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 200, refreshed.text
        new_tokens = refreshed.json()["data"]
        assert new_tokens["refresh_token"] != tokens["refresh_token"]
        me_again = await client.get(
            "/users/me", headers={"Authorization": f"Bearer {new_tokens['access_token']}"}
        )
        assert me_again.status_code == 200, me_again.text

        missing = await client.get("/no/such/route", headers={"X-Request-ID": "bad id with spaces"})
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
        problem = missing.json()
        assert problem["status"] == 404
        assert problem["code"] == "NOT_FOUND"
        request_id = missing.headers["x-request-id"]
        assert request_id != "bad id with spaces"
        assert problem["request_id"] == request_id

    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    try:
        returncode = await asyncio.to_thread(server.process.wait, STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"granian did not exit within {STOP_TIMEOUT} s of SIGTERM")
    assert time.monotonic() - started < STOP_TIMEOUT
    assert returncode == 0, server.stderr()
    assert port_is_closed(server.port)
    assert "Traceback" not in server.stderr()


def test_missing_database_url_stops_start_up_with_one_line(
    test_services: TestServices, tmp_path: Path
) -> None:
    env = server_env(REDIS_URL=test_services.redis_url)
    assert "DATABASE_URL" not in env
    process, stderr_path = start(free_port(), env, tmp_path)
    try:
        returncode = process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail("granian kept running without DATABASE_URL")
    finally:
        kill_group(process)
    assert returncode != 0
    lines = [line for line in stderr_path.read_text().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "DATABASE_URL" in lines[0]
