"""POST /orgs/{org_id}/items:batch: 1..500 rows created together or not at all, in request order,
with every bad row's problems reported in one answer."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from tests.factories import Client, expect_data, expect_problem, signed_in_user
from tests.items.item_helpers import batch_url, count_items, create_batch, db_row, get_item, list_all
from tests.orgs.org_helpers_keys import create_key, key_headers
from tests.orgs.org_helpers_orgs import Pool, org_with


def _rows(count: int) -> list[dict[str, Any]]:
    return [{"name": f"Row {i:03d}"} for i in range(count)]


async def test_batch_creates_every_row_in_request_order(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    rows: list[dict[str, Any]] = [
        {"name": "zeta", "price": 5, "currency": "EUR", "tags": ["b", "a", "b"]},
        {"name": "alpha", "description": "first letter", "status": "draft", "metadata": {"k": [1]}},
        {"name": "Mid", "price": 0, "currency": "JPY"},
    ]

    response = await client.post(batch_url(org_id), json={"items": rows}, headers=owner.headers)

    created = expect_data(response, 201)
    assert response.json()["meta"] == {"count": 3}
    assert [item["name"] for item in created] == ["zeta", "alpha", "Mid"]
    assert created[0]["tags"] == ["b", "a"]
    assert (created[0]["price"], created[0]["currency"]) == (5, "EUR")
    assert (created[1]["description"], created[1]["status"], created[1]["metadata"]) == (
        "first letter",
        "draft",
        {"k": [1]},
    )
    assert (created[1]["price"], created[1]["currency"], created[1]["tags"]) == (None, None, [])
    assert created[2]["status"] == "active"
    assert all(item["version"] == 1 for item in created)
    assert all((item["created_by_type"], item["created_by"]) == ("user", owner.id) for item in created)
    assert len({item["id"] for item in created}) == 3
    assert await count_items(db, org_id) == 3
    for item in created:
        assert expect_data(await get_item(client, org_id, item["id"], owner.headers)) == item


async def test_batch_of_500_in_order(client: Client, db: Pool) -> None:
    org_id, _, [member] = await org_with(client, db, "member")
    rows = [{"name": f"Row {i:03d}", "price": 500 - i, "currency": "USD"} for i in range(500)]

    created = await create_batch(client, org_id, member.headers, rows)

    assert [item["name"] for item in created] == [row["name"] for row in rows]
    assert [item["price"] for item in created] == list(range(500, 0, -1))
    assert await count_items(db, org_id) == 500
    assert len(await list_all(client, org_id, member.headers)) == 500


async def test_batch_of_one(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)

    created = await create_batch(client, org_id, owner.headers, [{"name": "Only"}])

    assert [item["name"] for item in created] == ["Only"]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        pytest.param(
            {"items": [{"name": f"r{i}"} for i in range(501)]},
            "$.items",
            id="501 rows",
        ),
        pytest.param(
            {"items": []},
            "$.items",
            id="no rows",
        ),
        pytest.param(
            {"items": {"name": "a"}},
            "$.items",
            id="items not a list",
        ),
        pytest.param({}, "$", id="no items"),
        pytest.param({"items": [{"name": "a"}], "extra": 1}, "$", id="unknown field"),
        pytest.param({"items": [{"name": "a"}, "not an object"]}, "$.items[1]", id="row not an object"),
    ],
)
async def test_batch_shape_errors(client: Client, db: Pool, body: dict[str, Any], path: str) -> None:
    org_id, owner, _ = await org_with(client, db)

    problem = expect_problem(
        await client.post(batch_url(org_id), json=body, headers=owner.headers), 422, "VALIDATION_ERROR"
    )

    assert [error["path"] for error in problem["errors"]] == [path], problem
    assert await count_items(db, org_id) == 0


async def test_an_invalid_row_fails_the_whole_batch_and_every_problem_is_listed(
    client: Client, db: Pool
) -> None:
    org_id, owner, _ = await org_with(client, db)
    rows: list[dict[str, Any]] = [{"name": f"Good {i}"} for i in range(12)]
    rows[1] = {"name": ""}
    rows[3] = {"name": "x", "price": 5}
    rows[4] = {"name": "x", "currency": "EUR"}
    rows[5] = {"name": "x", "price": 5, "currency": "XXY"}
    rows[6] = {"name": "x", "tags": ["ok", "Bad"]}
    rows[7] = {"name": "x", "colour": "red"}
    rows[8] = {"name": "x", "metadata": {"k": "v" * 9000}}
    rows[9] = {"price": 1, "currency": "EUR"}
    rows[10] = {"name": "x", "price": -1, "currency": "EUR"}
    rows[11] = {"name": "x", "price": "5", "currency": "EUR"}

    response = await client.post(batch_url(org_id), json={"items": rows}, headers=owner.headers)

    problem = expect_problem(response, 422, "VALIDATION_ERROR")
    assert [error["path"] for error in problem["errors"]] == [
        "$.items[1].name",
        "$.items[3].currency",
        "$.items[4].price",
        "$.items[5].currency",
        "$.items[6].tags[1]",
        "$.items[7]",
        "$.items[8].metadata",
        "$.items[9]",
        "$.items[10].price",
        "$.items[11].price",
    ]
    assert all(error["message"] and " - at `$" not in error["message"] for error in problem["errors"]), (
        problem
    )
    assert "nothing was created" in problem["detail"]
    assert await count_items(db, org_id) == 0


async def test_one_bad_row_at_the_end_of_a_full_batch_creates_nothing(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    rows = _rows(500)
    rows[499] = {"name": "bad\x00"}

    response = await client.post(batch_url(org_id), json={"items": rows}, headers=owner.headers)

    problem = expect_problem(response, 422, "VALIDATION_ERROR")
    assert [error["path"] for error in problem["errors"]] == ["$.items[499].name"]
    assert await count_items(db, org_id) == 0


async def test_batch_permissions(client: Client, db: Pool) -> None:
    org_id, owner, [viewer] = await org_with(client, db, "viewer")
    stranger = await signed_in_user(client)
    viewer_key = key_headers((await create_key(client, org_id, owner, "viewer"))["key"])
    member_key = await create_key(client, org_id, owner, "member")
    body = {"items": _rows(2)}

    for headers in (viewer.headers, viewer_key):
        expect_problem(
            await client.post(batch_url(org_id), json=body, headers=headers), 403, "PERMISSION_DENIED"
        )
    expect_problem(
        await client.post(batch_url(org_id), json=body, headers=stranger.headers), 404, "NOT_FOUND"
    )
    expect_problem(await client.post(batch_url(org_id), json=body), 401, "AUTHENTICATION_REQUIRED")
    assert await count_items(db, org_id) == 0

    created = await create_batch(client, org_id, key_headers(member_key["key"]), body["items"])
    assert {(item["created_by_type"], item["created_by"]) for item in created} == {
        ("api_key", member_key["id"])
    }
    row = await db_row(db, created[0]["id"])
    assert (row["created_by_type"], row["created_by"]) == ("api_key", UUID(member_key["id"]))


async def test_batch_needs_json(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)

    text = await client.post(
        batch_url(org_id), content=b'{"items": []}', headers={**owner.headers, "Content-Type": "text/plain"}
    )
    malformed = await client.post(
        batch_url(org_id),
        content=b'{"items": [',
        headers={**owner.headers, "Content-Type": "application/json"},
    )

    expect_problem(text, 415, "UNSUPPORTED_MEDIA_TYPE")
    expect_problem(malformed, 400, "MALFORMED_JSON")


async def test_a_row_postgresql_cannot_store_fails_the_whole_batch(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    rows: list[dict[str, Any]] = [*_rows(3), {"name": "nul", "metadata": {"k": "a\x00b"}}]

    response = await client.post(batch_url(org_id), json={"items": rows}, headers=owner.headers)

    expect_problem(response, 422, "VALIDATION_ERROR")
    assert await count_items(db, org_id) == 0
