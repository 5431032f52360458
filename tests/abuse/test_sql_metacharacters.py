"""SQL metacharacters in every string field and every list filter: free text is stored and
returned verbatim, formats refuse them cleanly, filters match literally, and every table is still
there afterwards. (Every query is parameterised; these tests keep it that way.)"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from tests.abuse.cases import (
    PAGINATED_LISTS,
    SECRET,
    STRICT,
    TEXT,
    Route,
    Slot,
    slot_cases,
    slot_id,
    slot_value,
    with_value,
)
from tests.abuse.conftest import COUNTED_TABLES, Pool, Tenant, digest
from tests.factories import DEFAULT_PASSWORD, Client, User, expect_data, expect_problem, login, unique

META = {
    "punctuation": "' \" ; -- /* */ \\ % _",
    "or-true": "' OR '1'='1",
    "drop-table": "'; DROP TABLE items; --",
    "dollar-quote": "$$; DELETE FROM orgs; $$ E'\\\\' $1",
}


def returned(route: Route, slot: Slot, data: Any) -> Any:
    """The value a response's `data` holds for the body's `slot`."""
    steps = slot[1:] if route.name == "item-batch" else slot  # the batch answers with the list
    value = data
    for step in steps:
        value = value[step]
    return value


@pytest.mark.parametrize("text", list(META.values()), ids=list(META))
@pytest.mark.parametrize("case", slot_cases((TEXT,)), ids=slot_id)
async def test_free_text_is_stored_and_returned_verbatim(
    client: Client, db: Pool, tenant: Tenant, case: tuple[Route, Slot], text: str
) -> None:
    route, slot = case
    value = slot_value(route, slot, text)
    body = with_value(route.body(), slot, value)

    response = await client.request(route.method, route.url(tenant), json=body, headers=route.headers(tenant))

    data = expect_data(response, 201 if route.method == "POST" else 200)
    assert returned(route, slot, data) == value
    if route.name.startswith("item-"):
        item = data[1] if route.name == "item-batch" else data
        stored = await db.fetchrow(
            "SELECT name, description, metadata FROM items WHERE id = $1", UUID(item["id"])
        )
        assert stored is not None
        assert (stored["name"], stored["description"]) == (item["name"], item["description"])


@pytest.mark.parametrize("case", slot_cases((STRICT, SECRET)), ids=slot_id)
async def test_formats_and_secrets_refuse_metacharacters_cleanly(
    client: Client, db: Pool, tenant: Tenant, case: tuple[Route, Slot]
) -> None:
    """Emails, slugs, enums, ids, tokens, URLs refuse them (422); a wrong password or code is
    just wrong (401/422/409); nothing is written either way."""
    route, slot = case
    body = with_value(route.body(), slot, slot_value(route, slot, META["or-true"]))
    before = await digest(db, tenant)

    response = await client.request(route.method, route.url(tenant), json=body, headers=route.headers(tenant))

    if (route.name, slot) == ("register", ("password",)):  # a fine password: it works as sent
        account = expect_data(response, 201)
        await login(client, account["email"], META["or-true"])
        return
    assert 400 <= response.status_code < 500, response.text
    expect_problem(response, response.status_code, response.json()["code"])
    assert await digest(db, tenant) == before


async def test_email_with_a_quote_is_stored_verbatim(client: Client, db: Pool) -> None:
    """An apostrophe is legal in an email address (o'brien@example.com)."""
    name = unique("ob")
    email = f"o'{name}@example.com"

    response = await client.post(
        "/auth/register", json={"email": email, "username": name, "password": DEFAULT_PASSWORD}
    )

    data = expect_data(response, 201)
    assert data["email"] == email
    assert await db.fetchval("SELECT email FROM users WHERE id = $1", UUID(data["id"])) == email


# ---- list filters and search ------------------------------------------------------------------------


@pytest.mark.parametrize("text", list(META.values()), ids=list(META))
async def test_name_prefix_matches_literally(client: Client, tenant: Tenant, text: str) -> None:
    """`' OR '1'='1` as a prefix finds the items whose names start with it, and no others."""
    base = tenant.url("/orgs/{org}/items")
    created = expect_data(await client.post(base, json={"name": text + " tail"}, headers=tenant.headers), 201)

    found = expect_data(
        await client.get(base, params={"name_prefix": text, "limit": 100}, headers=tenant.headers)
    )

    assert created["id"] in [item["id"] for item in found]
    assert all(item["name"].startswith(text) for item in found), found


@pytest.mark.parametrize("text", list(META.values()), ids=list(META))
async def test_search_with_metacharacters_answers_a_list(
    client: Client, tenant: Tenant, other_tenant: Tenant, text: str
) -> None:
    found = expect_data(
        await client.get(tenant.url("/orgs/{org}/items"), params={"search": text}, headers=tenant.headers)
    )

    assert isinstance(found, list)
    assert other_tenant.item_id not in [item["id"] for item in found]


STRICT_FILTERS = [
    ("/orgs/{org}/items", "tag"),
    ("/orgs/{org}/items", "currency"),
    ("/orgs/{org}/items", "status"),
    ("/orgs/{org}/items", "sort"),
    ("/orgs/{org}/items", "created_from"),
    ("/orgs/{org}/items", "price_min"),
    ("/orgs/{org}/audit", "action"),
    ("/orgs/{org}/audit", "actor_id"),
    ("/orgs/{org}/audit", "since"),
    ("/orgs/{org}/posts", "author_id"),
    ("/orgs/{org}/posts", "published"),
    ("/users/me/activity", "org_id"),
]


@pytest.mark.parametrize("text", list(META.values()), ids=list(META))
@pytest.mark.parametrize(("template", "param"), STRICT_FILTERS, ids=[f"{t}?{p}" for t, p in STRICT_FILTERS])
async def test_formatted_filter_refuses_metacharacters(
    client: Client, tenant: Tenant, template: str, param: str, text: str
) -> None:
    response = await client.get(tenant.url(template), params={param: text}, headers=tenant.headers)

    expect_problem(response, 422, "VALIDATION_ERROR", path=param)


@pytest.mark.parametrize("template", PAGINATED_LISTS)
async def test_cursor_with_metacharacters_is_an_invalid_cursor(
    client: Client, tenant: Tenant, template: str
) -> None:
    for text in META.values():
        response = await client.get(tenant.url(template), params={"cursor": text}, headers=tenant.headers)

        expect_problem(response, 422, "INVALID_CURSOR", path="cursor")


@pytest.mark.parametrize(
    ("path", "param", "state"),
    [("/admin/jobs", "kind", "dead"), ("/admin/inbound-events", "source", "failed")],
)
async def test_admin_filters_match_literally(
    client: Client, operator: User, path: str, param: str, state: str
) -> None:
    for text in META.values():
        params = {"state": state, param: text[:32]}
        found = expect_data(await client.get(path, params=params, headers=operator.headers))

        assert found == []


async def test_every_table_is_intact_afterwards(db: Pool, tenant: Tenant) -> None:
    """Runs last in this module (file order): the DROP TABLEs above were text, not statements."""
    for table in COUNTED_TABLES:
        assert await db.fetchval("SELECT to_regclass($1)::text", f"public.{table}") == table
    assert await db.fetchval("SELECT count(*) FROM items WHERE org_id = $1", UUID(tenant.org_id)) > 0
    assert await db.fetchval(
        "SELECT count(*) FROM orgs WHERE id = $1 AND deleted_at IS NULL", UUID(tenant.org_id)
    )
