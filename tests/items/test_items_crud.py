"""POST/GET/PATCH/DELETE /orgs/{org_id}/items[/{item_id}]: validation, ETags and conditional
requests, who may change what, tenant isolation, soft delete, and reads that see every write."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from tests.factories import Client, expect_data, expect_no_content, expect_problem, signed_in_user
from tests.items.item_helpers import (
    create_item,
    db_row,
    get_item,
    item_url,
    items_url,
    list_all,
    send_concurrently,
)
from tests.orgs.org_helpers_keys import create_key, key_headers
from tests.orgs.org_helpers_orgs import Pool, org_with

ITEM_FIELDS = {
    "id",
    "name",
    "description",
    "price",
    "currency",
    "tags",
    "status",
    "metadata",
    "version",
    "created_by_type",
    "created_by",
    "created_at",
    "updated_at",
}


async def _post(client: Client, org_id: str, headers: dict[str, str], body: Any) -> httpx.Response:
    return await client.post(items_url(org_id), json=body, headers=headers)


async def _patch(
    client: Client, org_id: str, item_id: str, headers: dict[str, str], body: Any, if_match: str | None = None
) -> httpx.Response:
    extra = {} if if_match is None else {"If-Match": if_match}
    return await client.patch(item_url(org_id, item_id), json=body, headers={**headers, **extra})


async def _delete(
    client: Client, org_id: str, item_id: str, headers: dict[str, str], if_match: str | None = None
) -> httpx.Response:
    extra = {} if if_match is None else {"If-Match": if_match}
    return await client.delete(item_url(org_id, item_id), headers={**headers, **extra})


# ---- create --------------------------------------------------------------------------------------


async def test_create_returns_the_item_with_etag_location_and_defaults(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)

    response = await _post(client, org_id, owner.headers, {"name": "Blue widget"})

    item = expect_data(response, 201)
    assert set(item) == ITEM_FIELDS
    assert response.headers["etag"] == '"v1"'
    assert response.headers["location"] == f"/orgs/{org_id}/items/{item['id']}"
    assert UUID(item["id"]).version == 7
    assert item["name"] == "Blue widget"
    assert item["description"] is None
    assert item["price"] is None
    assert item["currency"] is None
    assert item["tags"] == []
    assert item["status"] == "active"
    assert item["metadata"] == {}
    assert item["version"] == 1
    assert item["created_by_type"] == "user"
    assert item["created_by"] == owner.id
    assert item["created_at"] == item["updated_at"]
    row = await db_row(db, item["id"])
    assert row is not None
    assert str(row["org_id"]) == org_id
    assert row["deleted_at"] is None


async def test_create_keeps_every_field_and_folds_duplicate_tags_in_order(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    body = {
        "name": "Ünïcode ☕ widget",
        "description": "Line one\nline two\ttabbed",
        "price": 1999,
        "currency": "EUR",
        "tags": ["sale", "blue", "sale", "x-1", "blue", "a_b"],
        "status": "draft",
        "metadata": {"sku": "BW-1", "nested": {"n": [1, 2.5, None, True]}, "ü": "ß"},
    }

    item = expect_data(await _post(client, org_id, owner.headers, body), 201)

    assert item["tags"] == ["sale", "blue", "x-1", "a_b"]
    for field in ("name", "description", "price", "currency", "status", "metadata"):
        assert item[field] == body[field], field
    row = await db_row(db, item["id"])
    assert list(row["tags"]) == ["sale", "blue", "x-1", "a_b"]
    assert json.loads(row["metadata"]) == body["metadata"]
    # The same item from the database (the first read) and from the cache (the second).
    first = expect_data(await get_item(client, org_id, item["id"], owner.headers))
    second = expect_data(await get_item(client, org_id, item["id"], owner.headers))
    assert first == item
    assert second == item


async def test_create_accepts_the_boundary_values(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    big_metadata = {"k": "x" * (8192 - len('{"k":""}'))}  # exactly 8 KiB encoded
    fifty_keys = {f"k{i}": i for i in range(50)}
    body = {
        "name": "n" * 200,
        "description": "d" * 10_000,
        "price": 10**15,
        "currency": "JPY",
        "tags": [f"t{i}" for i in range(20)],
        "metadata": big_metadata,
    }

    item = expect_data(await _post(client, org_id, owner.headers, body), 201)
    zero = expect_data(
        await _post(client, org_id, owner.headers, {"name": "z", "price": 0, "currency": "USD"}), 201
    )
    keys = expect_data(await _post(client, org_id, owner.headers, {"name": "k", "metadata": fifty_keys}), 201)

    assert len(item["name"]) == 200
    assert item["price"] == 10**15
    assert len(item["tags"]) == 20
    assert item["metadata"] == big_metadata
    assert zero["price"] == 0
    assert keys["metadata"] == fifty_keys


INVALID_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("empty name", {"name": ""}, "$.name"),
    ("name too long", {"name": "n" * 201}, "$.name"),
    ("name with newline", {"name": "a\nb"}, "$.name"),
    ("name with NUL", {"name": "a\x00b"}, "$.name"),
    ("name with DEL", {"name": "a\x7fb"}, "$.name"),
    ("name with tab", {"name": "\tab"}, "$.name"),
    ("name with trailing newline", {"name": "ab\n"}, "$.name"),
    ("name with U+10FFFF", {"name": "a\U0010ffff"}, "$.name"),
    ("name missing", {"price": 5, "currency": "EUR"}, "$"),
    ("name not a string", {"name": 5}, "$.name"),
    ("description too long", {"name": "a", "description": "d" * 10_001}, "$.description"),
    ("description with NUL", {"name": "a", "description": "a\x00"}, "$.description"),
    ("price without currency", {"name": "a", "price": 5}, "$.currency"),
    ("currency without price", {"name": "a", "currency": "EUR"}, "$.price"),
    ("unknown currency", {"name": "a", "price": 5, "currency": "XXY"}, "$.currency"),
    ("lower-case currency", {"name": "a", "price": 5, "currency": "eur"}, "$.currency"),
    ("currency of four letters", {"name": "a", "price": 5, "currency": "EURO"}, "$.currency"),
    ("negative price", {"name": "a", "price": -1, "currency": "EUR"}, "$.price"),
    ("price too large", {"name": "a", "price": 10**15 + 1, "currency": "EUR"}, "$.price"),
    ("price as float", {"name": "a", "price": 5.5, "currency": "EUR"}, "$.price"),
    ("price as bool", {"name": "a", "price": True, "currency": "EUR"}, "$.price"),
    ("21 tags", {"name": "a", "tags": [f"t{i}" for i in range(21)]}, "$.tags"),
    ("upper-case tag", {"name": "a", "tags": ["ok", "Sale"]}, "$.tags[1]"),
    ("tag with space", {"name": "a", "tags": ["on sale"]}, "$.tags[0]"),
    ("tag starting with dash", {"name": "a", "tags": ["-x"]}, "$.tags[0]"),
    ("empty tag", {"name": "a", "tags": [""]}, "$.tags[0]"),
    ("tag too long", {"name": "a", "tags": ["t" * 33]}, "$.tags[0]"),
    ("tags not a list", {"name": "a", "tags": "sale"}, "$.tags"),
    ("unknown status", {"name": "a", "status": "deleted"}, "$.status"),
    ("metadata over 8 KiB", {"name": "a", "metadata": {"k": "x" * 8200}}, "$.metadata"),
    ("metadata one byte over 8 KiB", {"name": "a", "metadata": {"k": "x" * (8193 - 8)}}, "$.metadata"),
    ("metadata with 51 keys", {"name": "a", "metadata": {f"k{i}": i for i in range(51)}}, "$.metadata"),
    ("metadata a list", {"name": "a", "metadata": [1, 2]}, "$.metadata"),
    ("metadata a string", {"name": "a", "metadata": "x"}, "$.metadata"),
    ("metadata null", {"name": "a", "metadata": None}, "$.metadata"),
    ("unknown field", {"name": "a", "colour": "blue"}, "$"),
    ("id sent", {"name": "a", "id": str(uuid4())}, "$"),
    ("version sent", {"name": "a", "version": 3}, "$"),
]


@pytest.mark.parametrize(
    ("body", "path"), [(b, p) for _, b, p in INVALID_BODIES], ids=[c[0] for c in INVALID_BODIES]
)
async def test_create_refuses_invalid_bodies_with_a_field_path(
    client: Client, db: Pool, body: dict[str, Any], path: str
) -> None:
    org_id, owner, _ = await org_with(client, db)

    problem = expect_problem(await _post(client, org_id, owner.headers, body), 422, "VALIDATION_ERROR")

    assert [error["path"] for error in problem["errors"]] == [path], problem
    assert await db.fetchval("SELECT count(*) FROM items WHERE org_id = $1", UUID(org_id)) == 0


async def test_create_refuses_a_price_sent_as_a_string(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)

    response = await _post(client, org_id, owner.headers, {"name": "a", "price": "5", "currency": "EUR"})

    expect_problem(response, 422, "VALIDATION_ERROR", path="$.price")


async def test_patch_refuses_a_price_sent_as_a_string(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    item = await create_item(client, org_id, owner.headers)

    response = await _patch(client, org_id, item["id"], owner.headers, {"price": "5", "currency": "EUR"})

    expect_problem(response, 422, "VALIDATION_ERROR", path="$.price")


@pytest.mark.parametrize("metadata", [{"k": "a\x00b"}, {"a\x00": 1}], ids=["value", "key"])
async def test_create_refuses_nul_in_metadata(client: Client, db: Pool, metadata: dict[str, Any]) -> None:
    """PostgreSQL cannot store NUL in jsonb; the answer is a 422, not a 500."""
    org_id, owner, _ = await org_with(client, db)

    response = await _post(client, org_id, owner.headers, {"name": "a", "metadata": metadata})

    expect_problem(response, 422, "VALIDATION_ERROR")
    assert await db.fetchval("SELECT count(*) FROM items WHERE org_id = $1", UUID(org_id)) == 0


async def test_create_reports_every_rule_the_body_breaks(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    body = {"name": "a", "price": 5, "currency": "XXY", "metadata": {"k": "x" * 9000}}

    problem = expect_problem(await _post(client, org_id, owner.headers, body), 422, "VALIDATION_ERROR")

    assert sorted(error["path"] for error in problem["errors"]) == ["$.currency", "$.metadata"]


async def test_create_needs_a_json_body(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    url = items_url(org_id)

    form = await client.post(url, data={"name": "a"}, headers=owner.headers)
    text = await client.post(
        url, content=b'{"name": "a"}', headers={**owner.headers, "Content-Type": "text/plain"}
    )
    malformed = await client.post(
        url, content=b'{"name": "a",', headers={**owner.headers, "Content-Type": "application/json"}
    )
    empty = await client.post(url, content=b"", headers={**owner.headers, "Content-Type": "application/json"})
    array = await client.post(url, json=[{"name": "a"}], headers=owner.headers)

    expect_problem(form, 415, "UNSUPPORTED_MEDIA_TYPE")
    expect_problem(text, 415, "UNSUPPORTED_MEDIA_TYPE")
    expect_problem(malformed, 400, "MALFORMED_JSON")
    expect_problem(empty, 400, "MALFORMED_JSON")
    expect_problem(array, 422, "VALIDATION_ERROR")
    assert await db.fetchval("SELECT count(*) FROM items WHERE org_id = $1", UUID(org_id)) == 0


async def test_create_is_refused_to_viewers_and_strangers(client: Client, db: Pool) -> None:
    org_id, _, [viewer] = await org_with(client, db, "viewer")
    stranger = await signed_in_user(client)

    expect_problem(await _post(client, org_id, viewer.headers, {"name": "a"}), 403, "PERMISSION_DENIED")
    expect_problem(await _post(client, org_id, stranger.headers, {"name": "a"}), 404, "NOT_FOUND")
    expect_problem(await _post(client, org_id, {}, {"name": "a"}), 401, "AUTHENTICATION_REQUIRED")
    assert await db.fetchval("SELECT count(*) FROM items WHERE org_id = $1", UUID(org_id)) == 0


# ---- get and conditional get -----------------------------------------------------------------------


async def test_get_returns_the_item_with_its_etag(client: Client, db: Pool) -> None:
    org_id, owner, [viewer] = await org_with(client, db, "viewer")
    item = await create_item(client, org_id, owner.headers, name="Readable", price=5, currency="USD")

    response = await get_item(client, org_id, item["id"], viewer.headers)

    assert expect_data(response) == item
    assert response.headers["etag"] == '"v1"'


@pytest.mark.parametrize(
    "if_none_match", ['"v1"', 'W/"v1"', "*", '"v7", "v1"', ' W/"v9" , "v1" ', 'garbage, "v1"']
)
async def test_get_answers_304_when_the_etag_matches(client: Client, db: Pool, if_none_match: str) -> None:
    org_id, owner, _ = await org_with(client, db)
    item = await create_item(client, org_id, owner.headers)

    response = await client.get(
        item_url(org_id, item["id"]), headers={**owner.headers, "If-None-Match": if_none_match}
    )

    assert response.status_code == 304, response.text
    assert response.content == b""
    assert response.headers["etag"] == '"v1"'


@pytest.mark.parametrize("if_none_match", ['"v2"', 'W/"v2"', '"1"', "v1", '"V1"', '"v01"', ""])
async def test_get_answers_200_when_the_etag_does_not_match(
    client: Client, db: Pool, if_none_match: str
) -> None:
    org_id, owner, _ = await org_with(client, db)
    item = await create_item(client, org_id, owner.headers)

    response = await client.get(
        item_url(org_id, item["id"]), headers={**owner.headers, "If-None-Match": if_none_match}
    )

    assert expect_data(response) == item
    assert response.headers["etag"] == '"v1"'


async def test_an_old_etag_misses_after_a_change(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    item = await create_item(client, org_id, owner.headers)
    expect_data(await _patch(client, org_id, item["id"], owner.headers, {"name": "Renamed"}))

    stale = await client.get(item_url(org_id, item["id"]), headers={**owner.headers, "If-None-Match": '"v1"'})
    fresh = await client.get(item_url(org_id, item["id"]), headers={**owner.headers, "If-None-Match": '"v2"'})

    assert expect_data(stale)["name"] == "Renamed"
    assert stale.headers["etag"] == '"v2"'
    assert fresh.status_code == 304
    assert fresh.headers["etag"] == '"v2"'


async def test_get_unknown_or_malformed_id(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)

    expect_problem(await get_item(client, org_id, str(uuid4()), owner.headers), 404, "NOT_FOUND")
    not_uuid = await client.get(f"{items_url(org_id)}/not-a-uuid", headers=owner.headers)
    assert not_uuid.status_code in (400, 404), not_uuid.text
    assert not_uuid.headers["content-type"].startswith("application/problem+json")


# ---- tenant isolation ------------------------------------------------------------------------------


async def test_another_orgs_item_is_invisible_through_every_route(client: Client, db: Pool) -> None:
    org_a, owner_a, [member_a] = await org_with(client, db, "member")
    org_b, owner_b, _ = await org_with(client, db)
    item_b = await create_item(client, org_b, owner_b.headers, name="Secret B", tags=["b"])
    await create_item(client, org_a, owner_a.headers, name="Visible A")

    # B's item through A's path, by A's owner and A's member: as if it did not exist.
    for user in (owner_a, member_a):
        expect_problem(await get_item(client, org_a, item_b["id"], user.headers), 404, "NOT_FOUND")
        expect_problem(
            await client.get(item_url(org_a, item_b["id"]), headers={**user.headers, "If-None-Match": "*"}),
            404,
            "NOT_FOUND",
        )
        expect_problem(
            await _patch(client, org_a, item_b["id"], user.headers, {"name": "x"}), 404, "NOT_FOUND"
        )
        expect_problem(
            await _patch(client, org_a, item_b["id"], user.headers, {"name": "x"}, if_match="*"),
            404,
            "NOT_FOUND",
        )
        expect_problem(await _delete(client, org_a, item_b["id"], user.headers), 404, "NOT_FOUND")
        listed = await list_all(client, org_a, user.headers)
        assert [item["name"] for item in listed] == ["Visible A"]
        searched = await list_all(client, org_a, user.headers, search="secret")
        assert searched == []
    # B's path, by A's people: the org itself is hidden.
    expect_problem(await get_item(client, org_b, item_b["id"], owner_a.headers), 404, "NOT_FOUND")
    expect_problem(
        await _patch(client, org_b, item_b["id"], owner_a.headers, {"name": "x"}), 404, "NOT_FOUND"
    )
    expect_problem(await _delete(client, org_b, item_b["id"], owner_a.headers), 404, "NOT_FOUND")
    expect_problem(await client.get(items_url(org_b), headers=owner_a.headers), 404, "NOT_FOUND")
    expect_problem(await _post(client, org_b, owner_a.headers, {"name": "x"}), 404, "NOT_FOUND")

    row = await db_row(db, item_b["id"])
    assert row["name"] == "Secret B"
    assert row["version"] == 1
    assert row["deleted_at"] is None
    assert expect_data(await get_item(client, org_b, item_b["id"], owner_b.headers)) == item_b


async def test_another_orgs_api_key_gets_404(client: Client, db: Pool) -> None:
    org_a, owner_a, _ = await org_with(client, db)
    org_b, owner_b, _ = await org_with(client, db)
    item_b = await create_item(client, org_b, owner_b.headers)
    key_a = key_headers((await create_key(client, org_a, owner_a, "admin"))["key"])

    expect_problem(await get_item(client, org_b, item_b["id"], key_a), 404, "NOT_FOUND")
    expect_problem(await get_item(client, org_a, item_b["id"], key_a), 404, "NOT_FOUND")
    expect_problem(await _patch(client, org_a, item_b["id"], key_a, {"name": "x"}), 404, "NOT_FOUND")
    expect_problem(await _delete(client, org_a, item_b["id"], key_a), 404, "NOT_FOUND")
    assert (await db_row(db, item_b["id"]))["version"] == 1


# ---- patch ---------------------------------------------------------------------------------------


async def test_patch_changes_only_the_fields_sent(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    item = await create_item(
        client,
        org_id,
        owner.headers,
        name="Before",
        description="Desc",
        price=100,
        currency="EUR",
        tags=["a"],
        metadata={"k": 1},
    )

    response = await _patch(
        client, org_id, item["id"], owner.headers, {"name": "After", "tags": ["b", "c", "b"]}
    )

    updated = expect_data(response)
    assert response.headers["etag"] == '"v2"'
    assert updated == {
        **item,
        "name": "After",
        "tags": ["b", "c"],
        "version": 2,
        "updated_at": updated["updated_at"],
    }
    assert updated["updated_at"] > item["updated_at"]
    row = await db_row(db, item["id"])
    assert (row["name"], list(row["tags"]), row["description"], row["price"], row["currency"]) == (
        "After",
        ["b", "c"],
        "Desc",
        100,
        "EUR",
    )
    assert row["version"] == 2


async def test_patch_every_field(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    item = await create_item(client, org_id, owner.headers)
    changes = {
        "name": "New",
        "description": "Now described",
        "price": 250,
        "currency": "GBP",
        "tags": ["x"],
        "status": "archived",
        "metadata": {"a": [1]},
    }

    updated = expect_data(await _patch(client, org_id, item["id"], owner.headers, changes))

    assert {field: updated[field] for field in changes} == changes
    assert updated["version"] == 2
    assert expect_data(await get_item(client, org_id, item["id"], owner.headers)) == updated


async def test_patch_null_clears_description_and_price_clears_currency(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    item = await create_item(client, org_id, owner.headers, description="D", price=5, currency="EUR")

    cleared = expect_data(await _patch(client, org_id, item["id"], owner.headers, {"description": None}))
    assert cleared["description"] is None
    assert (cleared["price"], cleared["currency"]) == (5, "EUR")

    unpriced = expect_data(await _patch(client, org_id, item["id"], owner.headers, {"price": None}))
    assert (unpriced["price"], unpriced["currency"]) == (None, None)
    assert unpriced["version"] == 3
    row = await db_row(db, item["id"])
    assert (row["description"], row["price"], row["currency"]) == (None, None, None)

    also = expect_data(
        await _patch(client, org_id, item["id"], owner.headers, {"price": 7, "currency": "USD"})
    )
    assert (also["price"], also["currency"]) == (7, "USD")
    both_null = expect_data(
        await _patch(client, org_id, item["id"], owner.headers, {"price": None, "currency": None})
    )
    assert (both_null["price"], both_null["currency"]) == (None, None)


INVALID_PATCHES: list[tuple[str, dict[str, Any], str]] = [
    ("price without currency", {"price": 5}, "$.currency"),
    ("currency without price", {"currency": "EUR"}, "$.price"),
    ("price with null currency", {"price": 5, "currency": None}, "$.currency"),
    ("null price with a currency", {"price": None, "currency": "EUR"}, "$.currency"),
    ("null currency alone", {"currency": None}, "$.price"),
    ("unknown currency", {"price": 5, "currency": "XXY"}, "$.currency"),
    ("lower-case currency", {"price": 5, "currency": "usd"}, "$.currency"),
    ("negative price", {"price": -5, "currency": "EUR"}, "$.price"),
    ("null name", {"name": None}, "$.name"),
    ("empty name", {"name": ""}, "$.name"),
    ("control char in name", {"name": "a\rb"}, "$.name"),
    ("null tags", {"tags": None}, "$.tags"),
    ("bad tag", {"tags": ["UP"]}, "$.tags[0]"),
    ("21 tags", {"tags": [f"t{i}" for i in range(21)]}, "$.tags"),
    ("null status", {"status": None}, "$.status"),
    ("null metadata", {"metadata": None}, "$.metadata"),
    ("metadata too big", {"metadata": {"k": "x" * 9000}}, "$.metadata"),
    ("unknown field", {"colour": "red"}, "$"),
    ("version field", {"version": 9}, "$"),
]


@pytest.mark.parametrize(
    ("body", "path"), [(b, p) for _, b, p in INVALID_PATCHES], ids=[c[0] for c in INVALID_PATCHES]
)
async def test_patch_refuses_invalid_bodies(
    client: Client, db: Pool, body: dict[str, Any], path: str
) -> None:
    org_id, owner, _ = await org_with(client, db)
    item = await create_item(client, org_id, owner.headers, price=1, currency="EUR")

    problem = expect_problem(
        await _patch(client, org_id, item["id"], owner.headers, body), 422, "VALIDATION_ERROR"
    )

    assert [error["path"] for error in problem["errors"]] == [path], problem
    row = await db_row(db, item["id"])
    assert (row["version"], row["name"], row["price"], row["currency"]) == (1, "Widget", 1, "EUR")


async def test_patch_with_current_if_match_bumps_the_version(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    item = await create_item(client, org_id, owner.headers)

    first = await _patch(client, org_id, item["id"], owner.headers, {"name": "One"}, if_match='"v1"')
    second = await _patch(
        client, org_id, item["id"], owner.headers, {"name": "Two"}, if_match=first.headers["etag"]
    )
    listed = await _patch(client, org_id, item["id"], owner.headers, {"name": "Three"}, if_match='"v9", "v3"')

    assert expect_data(first)["version"] == 2
    assert first.headers["etag"] == '"v2"'
    assert expect_data(second)["version"] == 3
    assert second.headers["etag"] == '"v3"'
    assert expect_data(listed)["name"] == "Three"
    assert listed.headers["etag"] == '"v4"'
    assert (await db_row(db, item["id"]))["version"] == 4


@pytest.mark.parametrize("if_match", ['"v1"', 'W/"v2"', '"v3"', '"2"', "v2", "garbage", '"v0"'])
async def test_patch_with_a_stale_or_weak_if_match_is_412_and_changes_nothing(
    client: Client, db: Pool, if_match: str
) -> None:
    org_id, owner, _ = await org_with(client, db)
    item = await create_item(client, org_id, owner.headers, name="Original")
    expect_data(await _patch(client, org_id, item["id"], owner.headers, {"description": "v2"}))

    response = await _patch(
        client, org_id, item["id"], owner.headers, {"name": "Lost update"}, if_match=if_match
    )

    problem = expect_problem(response, 412, "PRECONDITION_FAILED")
    assert '"v2"' in problem["detail"]
    row = await db_row(db, item["id"])
    assert (row["name"], row["description"], row["version"]) == ("Original", "v2", 2)
    assert expect_data(await get_item(client, org_id, item["id"], owner.headers))["name"] == "Original"


async def test_patch_with_if_match_star_applies(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    item = await create_item(client, org_id, owner.headers)
    expect_data(await _patch(client, org_id, item["id"], owner.headers, {"name": "v2"}))

    response = await _patch(client, org_id, item["id"], owner.headers, {"name": "Star"}, if_match="*")

    assert expect_data(response)["name"] == "Star"
    assert response.headers["etag"] == '"v3"'


async def test_an_empty_patch_changes_nothing(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    item = await create_item(client, org_id, owner.headers, tags=["a"])

    response = await _patch(client, org_id, item["id"], owner.headers, {})
    conditional = await _patch(client, org_id, item["id"], owner.headers, {}, if_match='"v1"')
    stale = await _patch(client, org_id, item["id"], owner.headers, {}, if_match='"v5"')

    assert expect_data(response) == item
    assert response.headers["etag"] == '"v1"'
    assert expect_data(conditional) == item
    expect_problem(stale, 412, "PRECONDITION_FAILED")
    assert (await db_row(db, item["id"]))["version"] == 1


async def test_patch_unknown_item_is_404(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)

    expect_problem(await _patch(client, org_id, str(uuid4()), owner.headers, {"name": "x"}), 404, "NOT_FOUND")
    expect_problem(await _patch(client, org_id, str(uuid4()), owner.headers, {}), 404, "NOT_FOUND")


async def test_concurrent_conditional_patches_let_exactly_one_win(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    item = await create_item(client, org_id, owner.headers)
    headers = {**owner.headers, "If-Match": '"v1"'}

    raced = await send_concurrently(
        client, *(("PATCH", item_url(org_id, item["id"]), headers, {"name": f"Racer {i}"}) for i in range(4))
    )

    statuses = sorted(response.status_code for response in raced)
    assert statuses == [200, 412, 412, 412], [r.text for r in raced]
    winner = next(r for r in raced if r.status_code == 200)
    row = await db_row(db, item["id"])
    assert (row["version"], row["name"]) == (2, winner.json()["data"]["name"])
    assert expect_data(await get_item(client, org_id, item["id"], owner.headers)) == winner.json()["data"]


# ---- who may change what --------------------------------------------------------------------------


async def test_members_change_their_own_items_only(client: Client, db: Pool) -> None:
    org_id, owner, [member, other] = await org_with(client, db, "member", "member")
    mine = await create_item(client, org_id, member.headers, name="Mine")
    theirs = await create_item(client, org_id, other.headers, name="Theirs")
    owners = await create_item(client, org_id, owner.headers, name="Owner's")

    assert (
        expect_data(await _patch(client, org_id, mine["id"], member.headers, {"name": "Mine 2"}))["version"]
        == 2
    )
    for item in (theirs, owners):
        expect_problem(
            await _patch(client, org_id, item["id"], member.headers, {"name": "x"}), 403, "PERMISSION_DENIED"
        )
        expect_problem(await _delete(client, org_id, item["id"], member.headers), 403, "PERMISSION_DENIED")
        row = await db_row(db, item["id"])
        assert (row["version"], row["deleted_at"]) == (1, None)
    # A member's empty patch of another's item is refused too (not answered with the item).
    expect_problem(await _patch(client, org_id, theirs["id"], member.headers, {}), 403, "PERMISSION_DENIED")
    expect_no_content(await _delete(client, org_id, mine["id"], member.headers))


@pytest.mark.parametrize("role", ["admin", "owner"])
async def test_admins_and_owners_change_anyones_items(client: Client, db: Pool, role: str) -> None:
    org_id, owner, [admin, member] = await org_with(client, db, "admin", "member")
    actor = owner if role == "owner" else admin
    item = await create_item(client, org_id, member.headers, name="Member's")
    other = await create_item(client, org_id, member.headers, name="Member's 2")

    updated = expect_data(await _patch(client, org_id, item["id"], actor.headers, {"name": "Edited"}))
    expect_no_content(await _delete(client, org_id, other["id"], actor.headers))

    assert updated["name"] == "Edited"
    assert updated["created_by"] == member.id  # the creator stays
    assert (await db_row(db, other["id"]))["deleted_at"] is not None


async def test_viewers_cannot_change_anything(client: Client, db: Pool) -> None:
    org_id, owner, [viewer] = await org_with(client, db, "viewer")
    item = await create_item(client, org_id, owner.headers)

    expect_problem(
        await _patch(client, org_id, item["id"], viewer.headers, {"name": "x"}), 403, "PERMISSION_DENIED"
    )
    expect_problem(await _patch(client, org_id, item["id"], viewer.headers, {}), 403, "PERMISSION_DENIED")
    expect_problem(await _delete(client, org_id, item["id"], viewer.headers), 403, "PERMISSION_DENIED")
    expect_problem(await _delete(client, org_id, str(uuid4()), viewer.headers), 403, "PERMISSION_DENIED")
    row = await db_row(db, item["id"])
    assert (row["version"], row["deleted_at"]) == (1, None)


async def test_api_keys_follow_their_role(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    member_key = await create_key(client, org_id, owner, "member")
    viewer_key = await create_key(client, org_id, owner, "viewer")
    admin_key = await create_key(client, org_id, owner, "admin")
    as_member, as_viewer = key_headers(member_key["key"]), key_headers(viewer_key["key"], "bearer")
    owners = await create_item(client, org_id, owner.headers, name="Owner's")

    made = await create_item(client, org_id, as_member, name="By key")
    assert (made["created_by_type"], made["created_by"]) == ("api_key", member_key["id"])
    assert (
        expect_data(await _patch(client, org_id, made["id"], as_member, {"name": "Key edit"}))["version"] == 2
    )
    expect_problem(
        await _patch(client, org_id, owners["id"], as_member, {"name": "x"}), 403, "PERMISSION_DENIED"
    )
    expect_problem(await _delete(client, org_id, owners["id"], as_member), 403, "PERMISSION_DENIED")

    assert expect_data(await get_item(client, org_id, made["id"], as_viewer))["name"] == "Key edit"
    assert len(await list_all(client, org_id, as_viewer)) == 2
    expect_problem(await _post(client, org_id, as_viewer, {"name": "x"}), 403, "PERMISSION_DENIED")
    expect_problem(
        await _patch(client, org_id, made["id"], as_viewer, {"name": "x"}), 403, "PERMISSION_DENIED"
    )
    expect_problem(await _delete(client, org_id, made["id"], as_viewer), 403, "PERMISSION_DENIED")

    # The owner (a user) may change the key's item; an admin key may change the owner's.
    assert (
        expect_data(await _patch(client, org_id, made["id"], owner.headers, {"tags": ["k"]}))["version"] == 3
    )
    as_admin = key_headers(admin_key["key"])
    assert (
        expect_data(await _patch(client, org_id, owners["id"], as_admin, {"name": "Admin key"}))["version"]
        == 2
    )
    expect_no_content(await _delete(client, org_id, made["id"], as_member))
    row = await db_row(db, made["id"])
    assert row["deleted_at"] is not None
    assert row["created_by_type"] == "api_key"


async def test_a_member_does_not_own_the_items_of_their_api_key(client: Client, db: Pool) -> None:
    org_id, owner, [member] = await org_with(client, db, "member")
    key = key_headers((await create_key(client, org_id, owner, "member"))["key"])
    by_key = await create_item(client, org_id, key, name="By key")
    by_member = await create_item(client, org_id, member.headers, name="By member")

    expect_problem(
        await _patch(client, org_id, by_key["id"], member.headers, {"name": "x"}), 403, "PERMISSION_DENIED"
    )
    expect_problem(
        await _patch(client, org_id, by_member["id"], key, {"name": "x"}), 403, "PERMISSION_DENIED"
    )


# ---- delete --------------------------------------------------------------------------------------


async def test_delete_is_soft_and_hides_the_item_everywhere(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    item = await create_item(client, org_id, owner.headers, name="Doomed", description="gone soon")
    keep = await create_item(client, org_id, owner.headers, name="Kept")
    expect_data(await get_item(client, org_id, item["id"], owner.headers))  # now cached

    expect_no_content(await _delete(client, org_id, item["id"], owner.headers))

    row = await db_row(db, item["id"])
    assert row is not None
    assert row["deleted_at"] is not None
    assert row["name"] == "Doomed"
    assert row["version"] == 2
    expect_problem(await get_item(client, org_id, item["id"], owner.headers), 404, "NOT_FOUND")
    expect_problem(
        await client.get(item_url(org_id, item["id"]), headers={**owner.headers, "If-None-Match": "*"}),
        404,
        "NOT_FOUND",
    )
    for sort in ("-created_at", "name", "price"):
        assert [i["id"] for i in await list_all(client, org_id, owner.headers, sort=sort)] == [keep["id"]]
    assert await list_all(client, org_id, owner.headers, search="doomed") == []
    expect_problem(
        await _patch(client, org_id, item["id"], owner.headers, {"name": "Back"}), 404, "NOT_FOUND"
    )
    expect_problem(await _delete(client, org_id, item["id"], owner.headers), 404, "NOT_FOUND")
    expect_problem(await _delete(client, org_id, item["id"], owner.headers, if_match="*"), 404, "NOT_FOUND")
    assert (await db_row(db, item["id"]))["version"] == 2


async def test_delete_honours_if_match(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    item = await create_item(client, org_id, owner.headers)
    expect_data(await _patch(client, org_id, item["id"], owner.headers, {"name": "v2"}))

    for stale in ('"v1"', 'W/"v2"', '"v3"'):
        expect_problem(
            await _delete(client, org_id, item["id"], owner.headers, if_match=stale),
            412,
            "PRECONDITION_FAILED",
        )
        row = await db_row(db, item["id"])
        assert (row["deleted_at"], row["version"]) == (None, 2)
    expect_no_content(await _delete(client, org_id, item["id"], owner.headers, if_match='"v2"'))
    assert (await db_row(db, item["id"]))["deleted_at"] is not None


async def test_delete_with_if_match_star(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    item = await create_item(client, org_id, owner.headers)

    expect_no_content(await _delete(client, org_id, item["id"], owner.headers, if_match="*"))
    assert (await db_row(db, item["id"]))["deleted_at"] is not None


async def test_delete_unknown_item_is_404(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)

    expect_problem(await _delete(client, org_id, str(uuid4()), owner.headers), 404, "NOT_FOUND")


# ---- reads see every write at once (cache) ------------------------------------------------------------


async def test_every_write_is_visible_on_the_next_read(client: Client, db: Pool) -> None:
    org_id, owner, [viewer] = await org_with(client, db, "viewer")
    item = await create_item(client, org_id, owner.headers, name="Cached", price=1, currency="EUR")
    for _ in range(2):  # fill the cache, then hit it
        assert expect_data(await get_item(client, org_id, item["id"], viewer.headers)) == item

    for version, change in enumerate(
        [{"name": "Renamed"}, {"price": None}, {"tags": ["t"]}, {"description": "D"}, {"status": "draft"}],
        start=2,
    ):
        updated = expect_data(await _patch(client, org_id, item["id"], owner.headers, change))
        response = await get_item(client, org_id, item["id"], viewer.headers)
        assert expect_data(response) == updated
        assert response.headers["etag"] == f'"v{version}"'
        not_modified = await client.get(
            item_url(org_id, item["id"]), headers={**viewer.headers, "If-None-Match": f'"v{version}"'}
        )
        assert not_modified.status_code == 304

    expect_no_content(await _delete(client, org_id, item["id"], owner.headers))
    expect_problem(await get_item(client, org_id, item["id"], viewer.headers), 404, "NOT_FOUND")


async def test_a_missed_read_does_not_hide_items_created_later(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    missing = str(uuid4())
    expect_problem(await get_item(client, org_id, missing, owner.headers), 404, "NOT_FOUND")
    item = await create_item(client, org_id, owner.headers)

    assert expect_data(await get_item(client, org_id, item["id"], owner.headers)) == item
