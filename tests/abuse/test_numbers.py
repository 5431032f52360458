"""Huge and non-integer numbers wherever an integer (or a bool, or a time) is expected: in bodies
and in query filters. Each is a 4xx problem (422, or 400 for a number JSON cannot hold), and
nothing is stored."""

from __future__ import annotations

import base64
import json
from uuid import uuid4

import pytest

from tests.abuse.cases import BY_NAME, PAGINATED_LISTS, Slot, with_value
from tests.abuse.conftest import Pool, Tenant, digest
from tests.factories import Client, User, expect_problem

JSON = {"content-type": "application/json"}
# Raw JSON number texts, sent as they are (1e400 has no float value: not representable).
HUGE = {
    "googol": "1" + "0" * 100,
    "minus-googol": "-1" + "0" * 100,
    "int64-max+1": str(2**63),
    "uint64-max+1": str(2**64),
    "minus-int64-min-1": str(-(2**63) - 1),
    "1e400": "1e400",
    "-1e400": "-1e400",
    "float": "1.5",
    "whole-float": "100.0",
    "exponent": "1e2",
    "negative": "-1",
    "string": '"5"',
    "bool": "true",
}
# Representable values the JSON decoder accepts but the field refuses: 422 with the field's path.
# 1e400 does not fit a float at all: the body as a whole is refused (400 MALFORMED_JSON).
UNREPRESENTABLE = {"1e400", "-1e400"}

NUMERIC_SLOTS: list[tuple[str, Slot]] = [
    ("item-create", ("price",)),
    ("item-batch", ("items", 1, "price")),
    ("item-patch", ("price",)),
]
OTHER_TYPED_SLOTS: list[tuple[str, Slot]] = [
    ("post-create", ("published",)),
    ("endpoint-patch", ("enabled",)),
    ("key-create", ("expires_at",)),
    ("transfer", ("user_id",)),
    ("register", ("locale",)),
]


def _ids(cases: list[tuple[str, Slot]]) -> list[str]:
    return [f"{name}:{'.'.join(map(str, slot))}" for name, slot in cases]


def raw_body(route_name: str, slot: Slot, number: str) -> bytes:
    route = BY_NAME[route_name]
    body = with_value(route.body(), slot, "@@NUMBER@@")
    return json.dumps(body).encode().replace(b'"@@NUMBER@@"', number.encode())


def json_path(slot: Slot) -> str:
    return "$" + "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in slot)


BODY_CASES = [(name, slot, number) for name, slot in NUMERIC_SLOTS for number in HUGE] + [
    (name, slot, number)
    for name, slot in OTHER_TYPED_SLOTS
    for number in ("googol", "1e400", "float", "negative")
]


@pytest.mark.parametrize(
    ("route_name", "slot", "number"),
    BODY_CASES,
    ids=[f"{name}:{'.'.join(map(str, slot))}={number}" for name, slot, number in BODY_CASES],
)
async def test_bad_number_in_a_body_is_a_4xx(
    client: Client, db: Pool, tenant: Tenant, route_name: str, slot: Slot, number: str
) -> None:
    route = BY_NAME[route_name]
    before = await digest(db, tenant)

    response = await client.request(
        route.method,
        route.url(tenant),
        content=raw_body(route_name, slot, HUGE[number]),
        headers={**route.headers(tenant), **JSON},
    )

    if number in UNREPRESENTABLE:
        expect_problem(response, 400, "MALFORMED_JSON")
    else:
        expect_problem(response, 422, "VALIDATION_ERROR", path=json_path(slot))
    assert await digest(db, tenant) == before


# ---- query parameters ---------------------------------------------------------------------------

BAD_INTEGERS = {
    "googol": "1" + "0" * 100,
    "minus-googol": "-1" + "0" * 100,
    "int64-max+1": str(2**63),
    "5000-digits": "9" * 5000,
    "1e400": "1e400",
    "float": "1.5",
    "exponent": "1e3",
    "hex": "0x10",
    "nan": "NaN",
    "infinity": "Infinity",
    "arabic-digits": "\u0661\u0662",
    "empty": "",
    "spaces": " 5 ",
}
LIMITED_LISTS = [*PAGINATED_LISTS, "/users/me/activity?org_id={org}"]
QUERY_CASES = [
    (path, "limit", value) for path in LIMITED_LISTS for value in ("googol", "1e400", "float", "5000-digits")
]
QUERY_CASES += [("/orgs/{org}/items", "limit", value) for value in BAD_INTEGERS]
QUERY_CASES += [
    ("/orgs/{org}/items", param, value)
    for param in ("price_min", "price_max")
    for value in ("googol", "minus-googol", "int64-max+1", "5000-digits", "1e400", "float", "nan")
]


@pytest.mark.parametrize(
    ("template", "param", "value"), QUERY_CASES, ids=[f"{t}?{p}={v}" for t, p, v in QUERY_CASES]
)
async def test_bad_integer_in_a_query_is_422(
    client: Client, tenant: Tenant, template: str, param: str, value: str
) -> None:
    response = await client.get(
        tenant.url(template), params={param: BAD_INTEGERS[value]}, headers=tenant.headers
    )

    expect_problem(response, 422, "VALIDATION_ERROR", path=param)


@pytest.mark.parametrize("value", ["googol", "1e400", "5000-digits"])
@pytest.mark.parametrize("path", ["/admin/jobs?state=dead", "/admin/inbound-events?state=failed"])
async def test_bad_integer_in_an_admin_query_is_422(
    client: Client, operator: User, path: str, value: str
) -> None:
    response = await client.get(path, params={"limit": BAD_INTEGERS[value]}, headers=operator.headers)

    expect_problem(response, 422, "VALIDATION_ERROR", path="limit")


@pytest.mark.parametrize("param", ["created_from", "created_to"])
@pytest.mark.parametrize("value", ["99999-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "1" + "0" * 100, "1e400"])
async def test_out_of_range_time_filter_is_422(
    client: Client, tenant: Tenant, param: str, value: str
) -> None:
    response = await client.get(
        tenant.url("/orgs/{org}/items"), params={param: value}, headers=tenant.headers
    )

    expect_problem(response, 422, "VALIDATION_ERROR", path=param)


@pytest.mark.parametrize("value", ["99999-01-01T00:00:00Z", "1" + "0" * 100, "0001-01-01T00:00:00+14:00"])
async def test_out_of_range_audit_time_is_422(client: Client, tenant: Tenant, value: str) -> None:
    response = await client.get(
        tenant.url("/orgs/{org}/audit"), params={"since": value}, headers=tenant.headers
    )

    assert response.status_code in (200, 422), response.text
    if response.status_code == 422:
        expect_problem(response, 422, "VALIDATION_ERROR", path="since")


def forged_cursor(**key: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).rstrip(b"=").decode()


FORGED_CURSORS = {
    "price-int64-overflow": ("price", {"s": "price", "i": str(uuid4()), "p": 2**63}),
    "price-googol": ("price", {"s": "price", "i": str(uuid4()), "p": 10**100}),
    "price-negative-huge": ("-price", {"s": "-price", "i": str(uuid4()), "p": -(2**63) - 1}),
    "price-float": ("price", {"s": "price", "i": str(uuid4()), "p": 1.5}),
    "time-far-future": (
        "-created_at",
        {"s": "-created_at", "i": str(uuid4()), "t": "9999-12-31T23:59:59-14:00"},
    ),
    "name-nul": ("name", {"s": "name", "i": str(uuid4()), "n": "a\x00"}),
    "other-sort": ("name", {"s": "price", "i": str(uuid4()), "p": 1}),
}


@pytest.mark.parametrize("case", list(FORGED_CURSORS))
async def test_forged_cursor_with_out_of_range_values_is_422(
    client: Client, tenant: Tenant, case: str
) -> None:
    sort, key = FORGED_CURSORS[case]

    response = await client.get(
        tenant.url("/orgs/{org}/items"),
        params={"sort": sort, "cursor": forged_cursor(**key)},
        headers=tenant.headers,
    )

    assert response.status_code == 422, response.text
    expect_problem(response, 422, response.json()["code"])
    assert response.json()["code"] in ("INVALID_CURSOR", "VALIDATION_ERROR")
