"""Helpers for the items tests: URLs, creating items (one, a batch, or straight SQL for setup),
following cursors, the expected order of every sort, and database checks."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
from litestar.testing.transport import TestClientTransport

from app.core.ids import new_id
from tests.factories import Client, expect_data
from tests.orgs.org_helpers_orgs import Pool

Headers = dict[str, str]
SORTS = ("-created_at", "created_at", "name", "-name", "price", "-price")


def items_url(org_id: str) -> str:
    return f"/orgs/{org_id}/items"


def batch_url(org_id: str) -> str:
    return f"/orgs/{org_id}/items:batch"


def item_url(org_id: str, item_id: str) -> str:
    return f"/orgs/{org_id}/items/{item_id}"


async def create_item(client: Client, org_id: str, headers: Headers, **fields: Any) -> dict[str, Any]:
    """Create one item through the API (name defaults to "Widget"); its data."""
    body = {"name": "Widget", **fields}
    return expect_data(await client.post(items_url(org_id), json=body, headers=headers), 201)


async def create_batch(
    client: Client, org_id: str, headers: Headers, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    response = await client.post(batch_url(org_id), json={"items": rows}, headers=headers)
    created = expect_data(response, 201)
    assert response.json()["meta"] == {"count": len(rows)}
    return created


async def get_item(client: Client, org_id: str, item_id: str, headers: Headers) -> httpx.Response:
    return await client.get(item_url(org_id, item_id), headers=headers)


async def db_row(db: Pool, item_id: str) -> Any:
    """The stored row of an item, deleted or not (None if there is none)."""
    return await db.fetchrow(
        "SELECT org_id, name, description, price, currency, tags, status, metadata, version,"
        " created_by_type, created_by, deleted_at FROM items WHERE id = $1",
        UUID(item_id),
    )


async def count_items(db: Pool, org_id: str) -> int:
    """Every row of the org, soft-deleted ones included."""
    return await db.fetchval("SELECT count(*) FROM items WHERE org_id = $1", UUID(org_id))


async def insert_rows(db: Pool, org_id: str, created_by: str, rows: list[dict[str, Any]]) -> list[str]:
    """Insert items straight into the table (setup only); each row may set created_at. Their ids."""
    ids: list[str] = []
    for row in rows:
        item_id = new_id()
        await db.execute(
            "INSERT INTO items (org_id, id, name, description, price, currency, tags, status,"
            " created_by_type, created_by, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'user', $9, coalesce($10, now()))",
            UUID(org_id),
            item_id,
            row["name"],
            row.get("description"),
            row.get("price"),
            row.get("currency"),
            row.get("tags", []),
            row.get("status", "active"),
            UUID(created_by),
            row.get("created_at"),
        )
        ids.append(str(item_id))
    return ids


async def set_created_at(db: Pool, item_id: str, moment: datetime) -> None:
    await db.execute("UPDATE items SET created_at = $2 WHERE id = $1", UUID(item_id), moment)


async def list_page(
    client: Client, org_id: str, headers: Headers, **params: Any
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One page: (data, meta)."""
    response = await client.get(items_url(org_id), params=params, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["meta"]["has_more"] is (body["meta"]["next_cursor"] is not None), body["meta"]
    return body["data"], body["meta"]


async def list_all(
    client: Client, org_id: str, headers: Headers, *, limit: int = 100, **params: Any
) -> list[dict[str, Any]]:
    """Every item of a list, following meta.next_cursor; every page but the last is full."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(200):
        page_params = {**params, "limit": limit}
        if cursor is not None:
            page_params["cursor"] = cursor
        data, meta = await list_page(client, org_id, headers, **page_params)
        found.extend(data)
        cursor = meta["next_cursor"]
        if cursor is None:
            assert len(data) <= limit
            return found
        assert len(data) == limit
    raise AssertionError("pagination does not terminate")


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


def _when(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["created_at"])


def sort_key(sort: str, item: dict[str, Any]) -> tuple[Any, UUID]:
    """The key the list orders by: the field, then the id (a UUID orders like its bytes)."""
    field = sort.lstrip("-")
    if field == "created_at":
        key: Any = _when(item)
    elif field == "name":
        key = item["name"]  # Python compares code points: the byte order of UTF-8 ("C" collation)
    else:
        key = item["price"] if item["price"] is not None else -1
    return key, UUID(item["id"])


def expected_order(sort: str, items: list[dict[str, Any]]) -> list[str]:
    ordered = sorted(items, key=lambda item: sort_key(sort, item), reverse=sort.startswith("-"))
    return ids(ordered)


def _send_blocking(client: Client, method: str, url: str, headers: Headers, json: Any) -> httpx.Response:
    request = client.build_request(method, url, json=json, headers=headers)
    transport = TestClientTransport(client=client, raise_server_exceptions=False)  # type: ignore[arg-type]
    response = transport.handle_request(request)
    response.read()
    return response


async def send_concurrently(client: Client, *calls: tuple[str, str, Headers, Any]) -> list[httpx.Response]:
    """Send (method, url, headers, json) requests really at once, each from its own thread
    (AsyncTestClient alone runs them one after the other; see tests/orgs/org_helpers_orgs.py)."""
    return list(await asyncio.gather(*(asyncio.to_thread(_send_blocking, client, *call) for call in calls)))


async def live_items(db: Pool, org_id: str) -> list[dict[str, Any]]:
    """The org's live items as the database has them (the truth the lists are checked against)."""
    records = await db.fetch(
        "SELECT id, name, description, price, currency, tags, status, created_at FROM items"
        " WHERE org_id = $1 AND deleted_at IS NULL",
        UUID(org_id),
    )
    return [
        {
            **dict(record),
            "id": str(record["id"]),
            "tags": list(record["tags"]),
            "created_at": record["created_at"].isoformat(),
        }
        for record in records
    ]
