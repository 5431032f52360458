"""Where the tests find PostgreSQL and Redis.

Order: TEST_DATABASE_ADMIN_URL / TEST_REDIS_URL if set; else the local servers at
127.0.0.1:5432 (user postgres) and 127.0.0.1:6379 if they answer; else embedded ones started
from the dev dependencies (so `uv run just test` works on a machine with only Python and uv).
TEST_FORCE_EMBEDDED=1 skips the local servers.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from app.dev.embedded import DATA_DIR, EmbeddedRedis, start_postgres
from app.migrate import apply_all

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"


def _answers(host: str, port: int) -> bool:
    if os.environ.get("TEST_FORCE_EMBEDDED"):  # to check the fresh-machine path on a full one
        return False
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


class TestServices:
    """Resolves (and if needed starts) the servers; `close()` stops what it started."""

    def __init__(self) -> None:
        self._redis: EmbeddedRedis | None = None
        self._postgres: object | None = None
        self.postgres_admin_url = self._postgres_url()
        self.redis_url = self._redis_url()

    def _postgres_url(self) -> str:
        if url := os.environ.get("TEST_DATABASE_ADMIN_URL"):
            return url
        if _answers("127.0.0.1", 5432):
            return LOCAL_POSTGRES
        server = start_postgres(Path(DATA_DIR) / "test-postgres")
        self._postgres = server
        return server.get_uri("postgres")

    def _redis_url(self) -> str:
        if url := os.environ.get("TEST_REDIS_URL"):
            return url
        if _answers("127.0.0.1", 6379):
            return LOCAL_REDIS
        self._redis = EmbeddedRedis(Path(DATA_DIR) / "test-redis")
        return self._redis.start()

    def close(self) -> None:
        if self._redis is not None:
            self._redis.stop()


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@asynccontextmanager
async def fresh_database(admin_url: str, prefix: str) -> AsyncIterator[str]:
    """A new database named `<prefix>_<random>`, migrated; dropped (connections and all) afterwards."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = with_database(admin_url, name)
    try:
        apply_all(url)
        yield url
    finally:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
