"""What schemathesis found (tests/fuzz/test_schemathesis.py), kept as plain requests so a
regression fails here by name, whatever the fuzzer's seed draws next time."""

from __future__ import annotations

from typing import Any

from app.core.config import Settings
from app.main import create_app
from tests.factories import Client, User, expect_data, expect_problem, signed_in_user
from tests.items.item_helpers import create_item, item_url
from tests.orgs.org_helpers_orgs import create_org

SCHEMA_PATH = "/docs/openapi.json"
TOO_LONG_ETAG = "0" * 1025  # the bound of If-Match / If-None-Match is 1024 characters


async def _item(client: Client) -> tuple[User, str, str]:
    owner = await signed_in_user(client)
    org = await create_org(client, owner)
    item = await create_item(client, org["id"], owner.headers)
    return owner, org["id"], item["id"]


def _declared(schema: dict[str, Any], path: str, method: str) -> set[str]:
    return set(schema["paths"][path][method]["responses"])


async def test_over_long_if_none_match_is_a_declared_422(client: Client) -> None:
    owner, org_id, item_id = await _item(client)

    response = await client.get(
        item_url(org_id, item_id), headers={**owner.headers, "If-None-Match": TOO_LONG_ETAG}
    )

    expect_problem(response, 422, "VALIDATION_ERROR")
    schema = (await client.get(SCHEMA_PATH)).json()
    assert "422" in _declared(schema, "/orgs/{org_id}/items/{item_id}", "get")


async def test_over_long_if_match_on_delete_is_a_declared_422(client: Client) -> None:
    owner, org_id, item_id = await _item(client)

    response = await client.delete(
        item_url(org_id, item_id), headers={**owner.headers, "If-Match": TOO_LONG_ETAG}
    )

    expect_problem(response, 422, "VALIDATION_ERROR")
    schema = (await client.get(SCHEMA_PATH)).json()
    assert "422" in _declared(schema, "/orgs/{org_id}/items/{item_id}", "delete")


async def test_not_modified_is_declared(client: Client) -> None:
    """Found while declaring the 422 above: GET item answers 304 to a matching If-None-Match,
    which the document did not list either."""
    owner, org_id, item_id = await _item(client)
    first = await client.get(item_url(org_id, item_id), headers=owner.headers)
    expect_data(first)

    response = await client.get(
        item_url(org_id, item_id), headers={**owner.headers, "If-None-Match": first.headers["etag"]}
    )

    assert response.status_code == 304
    schema = (await client.get(SCHEMA_PATH)).json()
    assert "304" in _declared(schema, "/orgs/{org_id}/items/{item_id}", "get")


async def test_problem_schema_has_no_invented_examples(client: Client, settings: Settings) -> None:
    """Litestar generated a random example for every problem response (`"status": 2562`, a
    random `code`): the document changed on every start and showed problems the API never sends."""
    schema = (await client.get(SCHEMA_PATH)).json()
    problem = schema["components"]["schemas"]["Problem"]

    assert "examples" not in problem
    assert all("examples" not in member for member in problem["properties"].values())
    another = create_app(settings).openapi_schema.to_schema()
    assert another["components"]["schemas"]["Problem"] == problem
