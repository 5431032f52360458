"""The stack users pick instead: FastAPI + SQLAlchemy 2 async ORM (asyncpg driver) + pydantic v2.

Written the way the FastAPI and SQLAlchemy documentation recommend for production, and given the
service's pool size and timeouts, so that it is a fair baseline rather than a strawman:

- one `AsyncEngine` per worker, created in the lifespan (`create_async_engine`, asyncpg driver,
  QueuePool of ``DB_POOL_MAX_SIZE`` connections without overflow, no echo, no pre-ping);
- an `AsyncSession` per request from an `async_sessionmaker(expire_on_commit=False)`, handed
  out by a dependency (`Annotated[AsyncSession, Depends(...)]`);
- a declarative mapped class for the real `items` table, read with an ORM ``select`` on the
  primary key that also filters ``deleted_at IS NULL`` (what the service's SQL does);
- a pydantic v2 response model declared as the return type, so FastAPI serializes it with
  pydantic's Rust serializer (the FastAPI docs' advice; the custom JSON response classes are
  deprecated in its favour).

SQLAlchemy's asyncpg dialect keeps its own prepared-statement cache (on by default), and resets a
connection with a ROLLBACK when the session gives it back: that is how this stack ships.
Served exactly like the service::

    DATABASE_URL=postgresql://... granian --interface asgi --loop uvloop --workers 2 --no-ws \\
        bench.baselines.orm:app
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import BigInteger, DateTime, Integer, Text, make_url, select
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Item", "ItemEnvelope", "ItemOut", "app", "create_engine"]


class Base(DeclarativeBase):
    pass


class Item(Base):
    """The `items` table (migrations/0003_resources.sql); the generated `search` column is left out."""

    __tablename__ = "items"

    org_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    price: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text))
    status: Mapped[str] = mapped_column(Text)
    # `metadata` is reserved on declarative classes: the attribute is metadata_, the column metadata.
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB)
    version: Mapped[int] = mapped_column(Integer)
    created_by_type: Mapped[str] = mapped_column(Text)
    created_by: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ItemOut(BaseModel):
    """The fields of the service's ItemOut (src/app/items/structs.py), read from an `Item`."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str | None
    price: int | None
    currency: str | None
    tags: list[str]
    status: Literal["draft", "active", "archived"]
    metadata: dict[str, Any] = Field(validation_alias="metadata_")
    version: int
    created_by_type: Literal["user", "api_key"]
    created_by: uuid.UUID
    created_at: datetime
    updated_at: datetime


class ItemEnvelope(BaseModel):
    data: ItemOut


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def create_engine() -> AsyncEngine:
    """The engine with the service's pool size and server-side timeouts (same variables, same defaults)."""
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        raise RuntimeError("DATABASE_URL: missing (a postgresql:// URL is required)")
    statement_timeout_ms = _env_int("DB_STATEMENT_TIMEOUT_MS", 5_000)
    return create_async_engine(
        make_url(database_url).set(drivername="postgresql+asyncpg"),
        pool_size=_env_int("DB_POOL_MAX_SIZE", 10),
        max_overflow=0,
        pool_timeout=float(os.environ.get("DB_POOL_ACQUIRE_TIMEOUT") or 5.0),
        connect_args={
            "command_timeout": statement_timeout_ms / 1000 + 1,
            "server_settings": {
                "application_name": "bench-orm",
                "statement_timeout": str(statement_timeout_ms),
                "idle_in_transaction_session_timeout": str(
                    _env_int("DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", 10_000)
                ),
                "timezone": "UTC",
            },
        },
    )


class _State:
    sessions: async_sessionmaker[AsyncSession] | None = None


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    engine = create_engine()
    _State.sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        yield
    finally:
        _State.sessions = None
        await engine.dispose()


async def get_session() -> AsyncIterator[AsyncSession]:
    assert _State.sessions is not None, "the lifespan startup has not run"
    async with _State.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]

app = FastAPI(title="bench-orm", lifespan=lifespan)


@app.get("/orgs/{org_id}/items/{item_id}")
async def get_item(org_id: uuid.UUID, item_id: uuid.UUID, session: SessionDep) -> ItemEnvelope:
    item = await session.scalar(
        select(Item).where(Item.org_id == org_id, Item.id == item_id, Item.deleted_at.is_(None))
    )
    if item is None:
        raise HTTPException(status_code=404, detail="Item not found")
    return ItemEnvelope(data=ItemOut.model_validate(item))
