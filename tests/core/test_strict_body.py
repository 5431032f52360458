"""Bodies are decoded strictly, after authentication: see app.core.strict_body."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import Client, expect_data, expect_problem
from tests.orgs.org_helpers_orgs import org_with


@pytest.mark.parametrize(
    ("route", "body", "path"),
    [
        ("items", {"name": "Bolt", "price": "5", "currency": "USD"}, "$.price"),
        ("items", {"name": "Bolt", "tags": "sale"}, "$.tags"),
        ("posts", {"title": "Hi", "published": "true"}, "$.published"),
        ("posts", {"title": 12}, "$.title"),
    ],
)
async def test_values_of_the_wrong_json_type_are_422_with_their_path(
    client: Client, db: Any, route: str, body: dict[str, Any], path: str
) -> None:
    org_id, owner, _ = await org_with(client, db)

    response = await client.post(f"/orgs/{org_id}/{route}", json=body, headers=owner.headers)

    problem = expect_problem(response, 422, "VALIDATION_ERROR")
    assert [error["path"] for error in problem["errors"]] == [path]
    assert await db.fetchval(f"SELECT count(*) FROM {route} WHERE org_id = $1", org_id) == 0


async def test_the_caller_is_authenticated_before_the_body_is_judged(client: Client, db: Any) -> None:
    org_id, _, _ = await org_with(client, db)

    response = await client.post(f"/orgs/{org_id}/items", json={"name": "Bolt", "price": "5"})

    expect_problem(response, 401, "AUTHENTICATION_REQUIRED")


async def test_well_typed_bodies_pass_unchanged(client: Client, db: Any) -> None:
    org_id, owner, _ = await org_with(client, db)

    item = expect_data(
        await client.post(
            f"/orgs/{org_id}/items",
            json={"name": "Bolt", "price": 5, "currency": "USD"},
            headers=owner.headers,
        ),
        201,
    )

    assert (item["price"], item["currency"]) == (5, "USD")


async def test_malformed_json_stays_400(client: Client, db: Any) -> None:
    org_id, owner, _ = await org_with(client, db)

    response = await client.post(
        f"/orgs/{org_id}/items",
        content=b'{"name": "Bolt", "price": "5"',
        headers={**owner.headers, "content-type": "application/json"},
    )

    expect_problem(response, 400, "MALFORMED_JSON")
