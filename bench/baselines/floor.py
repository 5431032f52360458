"""The floor: the least a Python server can do to answer `GET /orgs/{org_id}/items/{item_id}`.

A raw ASGI 3 application (no framework, no middleware, no auth) over the same asyncpg pool
settings as the service (src/app/core/db.py): statement cache on, so the SELECT is a prepared
statement after its first use; no-op ``reset=`` (DESIGN.md section 6: the default reset query is a
second round trip per request); jsonb decoded by msgspec; the same server-side timeouts. The
body is encoded by msgspec, like the service's. Served exactly like the service::

    DATABASE_URL=postgresql://... granian --interface asgi --loop uvloop --workers 2 --no-ws \\
        bench.baselines.floor:app

Whatever the service spends above this floor is the price of its framework, auth and checks.
"""

from __future__ import annotations

import os
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

__all__ = ["GET_ITEM_SQL", "app"]

# sql/items/get_item.sql with aiosql's named parameters as asyncpg's positional ones
# (tests/bench/test_baselines.py checks that the two stay the same statement).
GET_ITEM_SQL = (
    "SELECT id, name, description, price, currency, tags, status, metadata, version, created_by_type,"
    " created_by, created_at, updated_at"
    " FROM items"
    " WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL"
)

_JSON = [(b"content-type", b"application/json")]
_encode = msgspec.json.Encoder().encode
_NOT_FOUND = _encode({"status": 404, "title": "Not Found"})
_NOT_ALLOWED = _encode({"status": 405, "title": "Method Not Allowed"})
_BUSY = _encode({"status": 503, "title": "Service Unavailable"})


class _Config:
    """The service's pool settings, read from the same environment variables with its defaults."""

    def __init__(self) -> None:
        env = os.environ
        self.database_url = env.get("DATABASE_URL", "")
        self.min_size = int(env.get("DB_POOL_MIN_SIZE") or 2)
        self.max_size = int(env.get("DB_POOL_MAX_SIZE") or 10)
        self.acquire_timeout = float(env.get("DB_POOL_ACQUIRE_TIMEOUT") or 5.0)
        self.statement_timeout_ms = int(env.get("DB_STATEMENT_TIMEOUT_MS") or 5_000)
        self.idle_in_transaction_timeout_ms = int(env.get("DB_IDLE_IN_TRANSACTION_TIMEOUT_MS") or 10_000)


def _encode_json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


async def _init_connection(conn: Any) -> None:
    await conn.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=_encode_json, decoder=msgspec.json.decode, format="text"
    )


async def _no_reset(_: Any) -> None:
    """No reset query on release: nothing here leaves session state on a connection."""


class _State:
    pool: asyncpg.Pool[asyncpg.Record] | None = None
    acquire_timeout: float = 5.0


async def create_pool(config: _Config) -> asyncpg.Pool[asyncpg.Record]:
    if not config.database_url:
        raise RuntimeError("DATABASE_URL: missing (a postgresql:// URL is required)")
    return await asyncpg.create_pool(
        config.database_url,
        min_size=config.min_size,
        max_size=config.max_size,
        reset=_no_reset,
        init=_init_connection,
        command_timeout=config.statement_timeout_ms / 1000 + 1,
        server_settings={
            "application_name": "bench-floor",
            "statement_timeout": str(config.statement_timeout_ms),
            "idle_in_transaction_session_timeout": str(config.idle_in_transaction_timeout_ms),
            "timezone": "UTC",
        },
    )


async def _respond(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": _JSON})
    await send({"type": "http.response.body", "body": body})


async def _http(scope: dict[str, Any], send: Any) -> None:
    parts = scope["path"].split("/")
    if len(parts) != 5 or parts[1] != "orgs" or parts[3] != "items":
        await _respond(send, 404, _NOT_FOUND)
        return
    if scope["method"] != "GET":
        await _respond(send, 405, _NOT_ALLOWED)
        return
    try:
        org_id = UUID(parts[2])
        item_id = UUID(parts[4])
    except ValueError:
        await _respond(send, 404, _NOT_FOUND)
        return
    pool = _State.pool
    assert pool is not None, "the lifespan startup has not run"
    try:
        async with pool.acquire(timeout=_State.acquire_timeout) as conn:
            row = await conn.fetchrow(GET_ITEM_SQL, org_id, item_id)
    except TimeoutError:
        await _respond(send, 503, _BUSY)
        return
    if row is None:
        await _respond(send, 404, _NOT_FOUND)
        return
    # The Record's columns, in SELECT order: uuid and timestamptz encode as ISO strings, text[]
    # as a list, jsonb (decoded by the codec) as an object: the fields of the service's ItemOut.
    await _respond(send, 200, _encode({"data": dict(row)}))


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            config = _Config()
            try:
                _State.pool = await create_pool(config)
            except Exception as exc:  # noqa: BLE001 - reported to the server, which stops
                await send({"type": "lifespan.startup.failed", "message": f"{type(exc).__name__}: {exc}"})
                return
            _State.acquire_timeout = config.acquire_timeout
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if _State.pool is not None:
                await _State.pool.close()
                _State.pool = None
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ASGI 3 entry point."""
    if scope["type"] == "http":
        await _http(scope, send)
    elif scope["type"] == "lifespan":
        await _lifespan(receive, send)
