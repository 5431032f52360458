"""NUL characters: PostgreSQL text cannot hold them, so every string refuses them with 422 (in a
body), or answers 422/404 (in a query or a path), and nothing reaches the database."""

from __future__ import annotations

import json

import pytest

from tests.abuse.cases import (
    BY_NAME,
    Route,
    Slot,
    acme_event,
    acme_signature,
    slot_cases,
    slot_id,
    slot_value,
)
from tests.abuse.cases import with_value as body_with
from tests.abuse.conftest import Pool, Tenant, digest
from tests.factories import Client, User, expect_problem

NUL_TEXTS = ["a\x00b", "\x00"]


@pytest.mark.parametrize("text", NUL_TEXTS, ids=["inner", "alone"])
@pytest.mark.parametrize("case", slot_cases(), ids=slot_id)
async def test_nul_in_a_body_string_is_422_and_nothing_is_stored(
    client: Client, db: Pool, tenant: Tenant, case: tuple[Route, Slot], text: str
) -> None:
    route, slot = case
    body = body_with(route.body(), slot, slot_value(route, slot, text))
    before = await digest(db, tenant)

    response = await client.request(route.method, route.url(tenant), json=body, headers=route.headers(tenant))

    expect_problem(response, 422, "VALIDATION_ERROR")
    assert await digest(db, tenant) == before


@pytest.mark.parametrize(
    ("route_name", "slot"),
    [("item-create", ("metadata",)), ("item-batch", ("items", 0, "metadata")), ("item-patch", ("metadata",))],
    ids=["item-create", "item-batch", "item-patch"],
)
async def test_nul_in_a_metadata_key_is_422(
    client: Client, db: Pool, tenant: Tenant, route_name: str, slot: Slot
) -> None:
    route = BY_NAME[route_name]
    body = body_with(route.body(), slot, {"k\x00": "v", "nested": {"\x00": ["\x00"]}})
    before = await digest(db, tenant)

    response = await client.request(route.method, route.url(tenant), json=body, headers=route.headers(tenant))

    expect_problem(response, 422, "VALIDATION_ERROR")
    assert await digest(db, tenant) == before


@pytest.mark.parametrize("route_name", ["register", "item-create", "post-patch", "endpoint-create"])
async def test_raw_nul_byte_in_a_json_string_is_400(
    client: Client, db: Pool, tenant: Tenant, route_name: str
) -> None:
    """A literal 0x00 byte (not the \\u0000 escape) inside a string is not JSON at all."""
    route = BY_NAME[route_name]
    slot = next(iter(route.slots))
    raw = body_with(route.body(), slot, "@@NUL@@")
    content = json.dumps(raw).replace("@@NUL@@", "a\x00b").encode()
    before = await digest(db, tenant)

    response = await client.request(
        route.method,
        route.url(tenant),
        content=content,
        headers={**route.headers(tenant), "content-type": "application/json"},
    )

    expect_problem(response, 400, "MALFORMED_JSON")
    assert await digest(db, tenant) == before


@pytest.mark.parametrize("field", ["id", "type"])
async def test_nul_in_an_inbound_webhook_envelope_is_422(
    small_client: Client, db: Pool, tenant: Tenant, field: str
) -> None:
    body = acme_event(**{field: "evt\x00x"})
    before = await digest(db, tenant)

    response = await small_client.post(
        "/webhooks/acme",
        content=body,
        headers={"content-type": "application/json", "webhook-signature": acme_signature(body)},
    )

    expect_problem(response, 422, "VALIDATION_ERROR")
    assert await digest(db, tenant) == before


# ---- query parameters ---------------------------------------------------------------------------

QUERY_CASES = [
    ("/orgs/{org}/items", "search"),
    ("/orgs/{org}/items", "name_prefix"),
    ("/orgs/{org}/items", "tag"),
    ("/orgs/{org}/items", "currency"),
    ("/orgs/{org}/items", "status"),
    ("/orgs/{org}/items", "sort"),
    ("/orgs/{org}/items", "cursor"),
    ("/orgs/{org}/items", "created_from"),
    ("/orgs/{org}/audit", "action"),
    ("/orgs/{org}/audit", "actor_id"),
    ("/orgs/{org}/posts", "author_id"),
    ("/orgs/{org}/posts", "published"),
    ("/orgs/{org}/posts/{post}/comments", "cursor"),
    ("/orgs/{org}/members", "cursor"),
    ("/orgs/{org}/api-keys", "cursor"),
    ("/orgs/{org}/webhook-endpoints", "cursor"),
    ("/orgs", "cursor"),
    ("/auth/sessions", "cursor"),
    ("/users/me/activity", "org_id"),
]


@pytest.mark.parametrize(("template", "param"), QUERY_CASES, ids=[f"{t}?{p}" for t, p in QUERY_CASES])
async def test_nul_in_a_query_filter_is_422(
    client: Client, tenant: Tenant, template: str, param: str
) -> None:
    response = await client.get(tenant.url(template), params={param: "a\x00b"}, headers=tenant.headers)

    body = expect_problem(response, 422, response.json().get("code", "?"))
    assert body["code"] in ("VALIDATION_ERROR", "INVALID_CURSOR"), body


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/admin/jobs?state=dead", "kind"),
        ("/admin/inbound-events?state=failed", "source"),
        ("/admin/jobs", "state"),
        ("/admin/jobs?state=dead", "cursor"),
    ],
)
async def test_nul_in_an_admin_filter_is_422(client: Client, operator: User, path: str, param: str) -> None:
    response = await client.get(path, params={param: "a\x00b"}, headers=operator.headers)

    body = expect_problem(response, 422, response.json().get("code", "?"))
    assert body["code"] in ("VALIDATION_ERROR", "INVALID_CURSOR"), body


# ---- path segments --------------------------------------------------------------------------------

PATHS = [
    "/orgs/%00",
    "/orgs/{org}%00",
    "/orgs/{org}/items/%00",
    "/orgs/{org}/items/{item}%00",
    "/orgs/{org}/posts/{post}%00/comments",
    "/users/%00",
]


@pytest.mark.parametrize("template", PATHS)
async def test_nul_in_a_path_segment_is_404(client: Client, tenant: Tenant, template: str) -> None:
    expect_problem(await client.get(tenant.url(template), headers=tenant.headers), 404, "NOT_FOUND")


@pytest.mark.parametrize("method", ["DELETE", "PATCH"])
async def test_nul_in_a_comment_id_is_404(client: Client, db: Pool, tenant: Tenant, method: str) -> None:
    before = await digest(db, tenant)

    response = await client.request(
        method,
        tenant.url("/orgs/{org}/posts/{post}/comments/%00"),
        json={"body": "x"},
        headers=tenant.headers,
    )

    expect_problem(response, 404, "NOT_FOUND")
    assert await digest(db, tenant) == before


async def test_nul_in_a_webhook_source_is_422_for_the_path(small_client: Client) -> None:
    response = await small_client.post("/webhooks/ac%00me", content=acme_event())

    expect_problem(response, 422, "VALIDATION_ERROR", path="source")


@pytest.mark.parametrize(
    "path", ["/admin/inbound-events/acme/evt%00x/retry", "/admin/inbound-events/ac%00me/evt_1/retry"]
)
async def test_nul_in_an_admin_path_segment_is_a_clean_4xx(client: Client, operator: User, path: str) -> None:
    response = await client.post(path, headers=operator.headers)

    assert response.status_code in (404, 422), response.text
    expect_problem(response, response.status_code, response.json()["code"])
