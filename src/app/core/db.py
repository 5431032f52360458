"""The asyncpg pool, the named SQL loaded once by aiosql, and the transaction helper.

Usage in a service (services own their transactions and keep them short: slow work such as
password hashing happens before one is opened; controllers never touch connections)::

    async with self._db.transaction() as conn:
        await queries.update_password_hash(conn, id=user_id, password_hash=new_hash)

Pool policy (docs/ARCHITECTURE.md, "Connection pool"): connections are returned to the pool
without asyncpg's reset query, which would cost a second round trip per request. That is
safe because no code leaves session state on a pooled connection: no session-level ``SET``
(use ``SET LOCAL`` inside a transaction), no ``LISTEN`` (use a dedicated connection), no
session advisory locks. ``tests/unit/test_pool_rules.py`` enforces the rule over ``src/`` and ``sql/``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import aiosql
import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy

from app.core.config import Settings
from app.core.exceptions import ServiceUnavailableError
from app.core.monitoring import AlertManager
from app.core.query_log import slow_query_connection_class

__all__ = ["SQL_DIR", "Connection", "Database", "row_or_none", "rows", "sql"]

T = TypeVar("T")

SQL_DIR = Path(__file__).resolve().parents[3] / "sql"
if TYPE_CHECKING:
    Connection: TypeAlias = PoolConnectionProxy[asyncpg.Record]
    Pool: TypeAlias = asyncpg.Pool[asyncpg.Record]
else:  # the driver's classes are not subscriptable at run time
    Connection = PoolConnectionProxy
    Pool = asyncpg.Pool

# A connection already in a transaction that this task's queries join (`Database.enclosing`),
# with the task that opened it: tasks started from it get their own pooled connections.
_enclosing: ContextVar[tuple[asyncio.Task[Any] | None, Any] | None] = ContextVar("enclosing", default=None)


@cache
def sql() -> Any:
    """All named queries under `sql/`, one aiosql namespace per subfolder (``sql().accounts``).

    Typed as Any on purpose: aiosql builds its methods at run time, so each feature's
    `queries.py` is where argument and result types are pinned.
    """
    return aiosql.from_path(SQL_DIR, "asyncpg")  # pyright: ignore[reportUnknownMemberType]


def _encode_json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


async def _init_connection(conn: asyncpg.Connection[Any]) -> None:
    """jsonb travels as Python values: dicts and lists in, dicts and lists out (via msgspec)."""
    await conn.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=_encode_json, decoder=msgspec.json.decode, format="text"
    )


async def _no_reset(_: Any) -> None:
    """Skip asyncpg's per-release reset query; see the module docstring for why it is safe."""


class Database:
    """Owns the pool; hands out connections and transactions with a bounded acquire wait."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pool: Pool | None = None

    @property
    def pool(self) -> Pool:
        if self._pool is None:
            raise RuntimeError("Database.connect() has not been called")
        return self._pool

    async def connect(self) -> None:
        s = self._settings
        sql()  # parse every .sql file at start-up, not on the first request
        self._pool = await asyncpg.create_pool(
            s.database_url,
            min_size=s.db_pool_min_size,
            max_size=s.db_pool_max_size,
            reset=_no_reset,
            init=_init_connection,
            # Times every statement (cheaply) for the slow-query log (SLOW_QUERY_MS).
            connection_class=slow_query_connection_class(s.slow_query_ms),
            command_timeout=s.db_statement_timeout_ms / 1000 + 1,
            server_settings={
                "application_name": "app",
                "statement_timeout": str(s.db_statement_timeout_ms),
                "idle_in_transaction_session_timeout": str(s.db_idle_in_transaction_timeout_ms),
                "timezone": "UTC",
            },
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @asynccontextmanager
    async def connection(self) -> AsyncGenerator[Connection]:
        """A pooled connection in autocommit mode; 503 if none frees up within the acquire timeout.

        Inside `enclosing`, the enclosing transaction's connection instead (same task only).
        """
        enclosing = _enclosing.get()
        if enclosing is not None and enclosing[0] is asyncio.current_task():
            yield enclosing[1]
            return
        try:
            conn = await self.pool.acquire(timeout=self._settings.db_pool_acquire_timeout)
        except TimeoutError:
            AlertManager.pool_exhausted()  # counted and alerted (de-duplicated, in the background)
            raise ServiceUnavailableError("The database is busy; retry shortly.") from None
        except (OSError, asyncpg.CannotConnectNowError) as exc:
            AlertManager.database_unreachable(exc)
            raise
        try:
            yield conn
        finally:
            await self.pool.release(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncGenerator[Connection]:
        """A connection inside a transaction that commits on success and rolls back on error."""
        async with self.connection() as conn, conn.transaction():
            yield conn

    @asynccontextmanager
    async def enclosing(self) -> AsyncGenerator[Connection]:
        """A transaction that every `connection()` and `transaction()` of this task joins until
        the block ends (a nested `transaction()` becomes a savepoint); it commits when the block
        exits normally and rolls back on an exception.

        It makes several service calls one unit of work, e.g. an idempotency key and the
        effect it guards (app.idempotency). Keep the block short: it holds a connection.
        """
        async with self.transaction() as conn:
            token = _enclosing.set((asyncio.current_task(), conn))
            try:
                yield conn
            finally:
                _enclosing.reset(token)


def row_or_none(record: Any, row_type: type[T]) -> T | None:
    """Convert one asyncpg Record (or None) into `row_type`."""
    return None if record is None else msgspec.convert(record, row_type)


async def rows(records: AsyncIterator[Any], row_type: type[T]) -> list[T]:
    """Convert the async stream of Records that aiosql returns for a select into a list."""
    return [msgspec.convert(record, row_type) async for record in records]
