"""Typed functions over the named SQL in `sql/items/`: the only place this feature runs SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from app.core.db import Connection, row_or_none, rows, sql
from app.items.structs import ItemOut, ItemSort


def _q():  # noqa: ANN202 - aiosql namespace, dynamically typed
    return sql().items


class ItemBounds(msgspec.Struct, frozen=True, kw_only=True):
    """The filters of a list, every range closed to concrete bounds ([lo, hi))."""

    status: str | None
    tag: str | None
    currency: str | None
    price_lo: int
    price_hi: int
    created_lo: datetime
    created_hi: datetime
    name_lo: str
    name_hi: str


_LIST_QUERY: dict[ItemSort, str] = {
    "-created_at": "list_items_by_created_desc",
    "created_at": "list_items_by_created_asc",
    "name": "list_items_by_name_asc",
    "-name": "list_items_by_name_desc",
    "price": "list_items_by_price_asc",
    "-price": "list_items_by_price_desc",
}


async def get_item(conn: Connection, *, org_id: UUID, item_id: UUID) -> ItemOut | None:
    return row_or_none(await _q().get_item(conn, org_id=org_id, id=item_id), ItemOut)


async def get_item_version(conn: Connection, *, org_id: UUID, item_id: UUID) -> int | None:
    return await _q().get_item_version(conn, org_id=org_id, id=item_id)


async def insert_item(conn: Connection, *, org_id: UUID, item_id: UUID, fields: dict[str, Any]) -> ItemOut:
    record = await _q().insert_item(conn, org_id=org_id, id=item_id, **fields)
    return msgspec.convert(record, ItemOut)


async def insert_items(
    conn: Connection, *, org_id: UUID, rows_: list[dict[str, Any]], created_by_type: str, created_by: UUID
) -> list[ItemOut]:
    """The new items in the order of `rows_` (RETURNING promises no order)."""
    created = await rows(
        _q().insert_items(
            conn, org_id=org_id, rows=rows_, created_by_type=created_by_type, created_by=created_by
        ),
        ItemOut,
    )
    position = {row["id"]: index for index, row in enumerate(rows_)}
    return sorted(created, key=lambda item: position[item.id])


async def update_item(
    conn: Connection, *, org_id: UUID, item_id: UUID, expected_version: int | None, changes: dict[str, Any]
) -> ItemOut | None:
    """`changes` holds only the fields sent; the others keep their value."""
    arguments: dict[str, Any] = {}
    for field in ("name", "description", "tags", "status", "metadata"):
        arguments[f"set_{field}"] = field in changes
        arguments[field] = changes.get(field)
    arguments["set_price"] = "price" in changes
    arguments["price"] = changes.get("price")
    arguments["currency"] = changes.get("currency")
    record = await _q().update_item(
        conn, org_id=org_id, id=item_id, expected_version=expected_version, **arguments
    )
    return row_or_none(record, ItemOut)


async def soft_delete_item(
    conn: Connection, *, org_id: UUID, item_id: UUID, expected_version: int | None
) -> bool:
    version = await _q().soft_delete_item(conn, org_id=org_id, id=item_id, expected_version=expected_version)
    return version is not None


async def list_items(
    conn: Connection,
    *,
    org_id: UUID,
    sort: ItemSort,
    start: tuple[Any, UUID],
    stop: Any,
    bounds: ItemBounds,
    limit: int,
) -> list[ItemOut]:
    query = getattr(_q(), _LIST_QUERY[sort])
    return await rows(
        query(
            conn,
            org_id=org_id,
            start_key=start[0],
            start_id=start[1],
            stop_key=stop,
            limit=limit,
            **msgspec.structs.asdict(bounds),
        ),
        ItemOut,
    )


async def search_items(
    conn: Connection,
    *,
    org_id: UUID,
    query: str,
    start: tuple[datetime, UUID],
    stop: datetime,
    bounds: ItemBounds,
    limit: int,
) -> list[ItemOut]:
    return await rows(
        _q().search_items(
            conn,
            org_id=org_id,
            query=query,
            start_key=start[0],
            start_id=start[1],
            stop_key=stop,
            limit=limit,
            **msgspec.structs.asdict(bounds),
        ),
        ItemOut,
    )
