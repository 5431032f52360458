"""Hostile bodies: over the size cap (declared, streamed, sent), nested 10,000 deep, strings and
arrays far over their limits, bytes that are not UTF-8. Each is a 4xx problem and stores nothing.

tests/core/test_errors.py checks the size cap and bad UTF-8 on /auth/login; these tests send
the same abuse to the routes that write.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from tests.abuse.cases import BY_NAME, Route, Slot, acme_event, acme_signature, with_value
from tests.abuse.conftest import SMALL_BODY_BYTES, Pool, Tenant, digest, raw_request
from tests.factories import Client, expect_problem

JSON = {"content-type": "application/json"}
# Routes behind each kind of caller, and the inbound webhook receiver (a raw body route).
CAPPED_ROUTES = ["register", "profile", "item-create", "item-batch", "post-patch", "endpoint-create"]


def raw_headers(route: Route, tenant: Tenant, **extra: str) -> list[tuple[bytes, bytes]]:
    headers = {**route.headers(tenant), **JSON, **extra}
    return [(name.lower().encode(), value.encode()) for name, value in headers.items()]


def padded(route: Route, size: int) -> bytes:
    """A valid body of the route grown past `size` bytes by a long string in its first slot."""
    body = route.body()
    target = body["items"][0] if "items" in body else body
    key = "description" if "description" in target else next(k for k in target if isinstance(target[k], str))
    target[key] = "x" * size
    return json.dumps(body).encode()


# ---- over the size cap ----------------------------------------------------------------------------


@pytest.mark.parametrize("route_name", CAPPED_ROUTES)
async def test_body_over_the_cap_is_413(
    small_client: Client, db: Pool, tenant: Tenant, route_name: str
) -> None:
    route = BY_NAME[route_name]
    before = await digest(db, tenant)

    response = await small_client.request(
        route.method,
        route.url(tenant),
        content=padded(route, SMALL_BODY_BYTES),
        headers={**route.headers(tenant), **JSON},
    )

    expect_problem(response, 413, "PAYLOAD_TOO_LARGE")
    assert await digest(db, tenant) == before


@pytest.mark.parametrize("route_name", CAPPED_ROUTES)
async def test_declared_length_over_the_cap_is_413(
    small_client: Client, db: Pool, tenant: Tenant, route_name: str
) -> None:
    """Content-Length says 1 GB; the few bytes that follow are never read."""
    route = BY_NAME[route_name]
    before = await digest(db, tenant)

    response = await raw_request(
        small_client,
        route.method,
        route.url(tenant),
        headers=raw_headers(route, tenant, **{"content-length": str(10**9)}),
        chunks=[json.dumps(route.body()).encode()],
    )

    assert response.status == 413, response.body
    assert response.header("content-type")[0].startswith("application/problem+json")
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert await digest(db, tenant) == before


@pytest.mark.parametrize("route_name", CAPPED_ROUTES)
async def test_streamed_body_over_the_cap_is_413(
    small_client: Client, db: Pool, tenant: Tenant, route_name: str
) -> None:
    """No Content-Length (chunked): the cap applies while the body streams in."""
    route = BY_NAME[route_name]
    body = padded(route, SMALL_BODY_BYTES * 4)
    before = await digest(db, tenant)

    response = await raw_request(
        small_client,
        route.method,
        route.url(tenant),
        headers=raw_headers(route, tenant, **{"transfer-encoding": "chunked"}),
        chunks=[body[i : i + 512] for i in range(0, len(body), 512)],
    )

    assert response.status == 413, response.body
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert await digest(db, tenant) == before


@pytest.mark.parametrize(
    "declared", ["1000000", "99999999999999999999999999", None], ids=["big", "huge", "none"]
)
async def test_inbound_webhook_over_its_cap_is_413(
    small_client: Client, db: Pool, tenant: Tenant, declared: str | None
) -> None:
    """The webhook receiver has its own, smaller cap (1024 bytes here), declared or streamed."""
    body = acme_event(data={"pad": "x" * 1500})
    headers = [(b"content-type", b"application/json"), (b"webhook-signature", acme_signature(body).encode())]
    if declared is not None:
        headers.append((b"content-length", declared.encode()))
        chunks = [body[:100]]
    else:
        chunks = [body[i : i + 256] for i in range(0, len(body), 256)]
    before = await digest(db, tenant)

    response = await raw_request(small_client, "POST", "/webhooks/acme", headers=headers, chunks=chunks)

    assert response.status == 413, response.body
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert await digest(db, tenant) == before


@pytest.mark.parametrize(
    ("declared", "status"),
    [("-1", 202), (" 5 ", 202), ("12abc", 400), ("\u00b2", 400)],
    ids=["negative", "spaces", "junk", "superscript"],
)
async def test_inbound_webhook_with_a_junk_content_length_is_judged_by_its_body(
    small_client: Client, declared: str, status: int
) -> None:
    """Regression: a Content-Length of Unicode digits ("\u00b2".isdigit() is True) was a 500.

    A header the receiver cannot use as a number is ignored and the body is read (Litestar
    refuses one that is not a number at all: 400)."""
    body = acme_event()

    response = await raw_request(
        small_client,
        "POST",
        "/webhooks/acme",
        headers=[
            (b"content-type", b"application/json"),
            (b"content-length", declared.encode("latin-1")),
            (b"webhook-signature", acme_signature(body).encode()),
        ],
        chunks=[body],
    )

    assert response.status == status, response.body
    if status == 400:
        assert response.json()["code"] == "BAD_REQUEST"


# ---- deep nesting -------------------------------------------------------------------------------

DEPTH = 10_000


def nested_arrays(depth: int = DEPTH) -> bytes:
    return b"[" * depth + b"]" * depth


def nested_objects(depth: int = DEPTH) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def in_field(route: Route, nested: bytes) -> bytes:
    """The route's valid body with `nested` as the value of its first slot."""
    slot = next(iter(route.slots))
    body = json.dumps(with_value(route.body(), slot, "@@NESTED@@")).encode()
    return body.replace(b'"@@NESTED@@"', nested)


NESTINGS: dict[str, Callable[[Route], bytes]] = {
    "arrays": lambda route: nested_arrays(),
    "objects": lambda route: nested_objects(),
    "arrays-in-field": lambda route: in_field(route, nested_arrays()),
    "objects-in-field": lambda route: in_field(route, nested_objects()),
    "unclosed": lambda route: b"[" * 100_000,
}


@pytest.mark.parametrize("nesting", list(NESTINGS))
@pytest.mark.parametrize(
    "route_name", ["login", "register", "item-create", "item-batch", "item-patch", "org-create"]
)
async def test_deeply_nested_json_is_a_4xx(
    client: Client, db: Pool, tenant: Tenant, route_name: str, nesting: str
) -> None:
    route = BY_NAME[route_name]
    before = await digest(db, tenant)

    response = await client.request(
        route.method,
        route.url(tenant),
        content=NESTINGS[nesting](route),
        headers={**route.headers(tenant), **JSON},
    )

    expect_problem(response, 400, "MALFORMED_JSON")
    assert await digest(db, tenant) == before


@pytest.mark.parametrize("field", ["metadata", "items"])
async def test_deep_nesting_inside_free_form_values_is_a_4xx(
    client: Client, db: Pool, tenant: Tenant, field: str
) -> None:
    """metadata and batch rows take arbitrary JSON: the decoder must not recurse without bound."""
    if field == "metadata":
        route, prefix, suffix = BY_NAME["item-create"], b'{"name": "n", "metadata": {"k": ', b"}}"
    else:
        route, prefix, suffix = BY_NAME["item-batch"], b'{"items": [{"name": "n", "metadata": {"k": ', b"}}]}"
    before = await digest(db, tenant)

    response = await client.request(
        route.method,
        route.url(tenant),
        content=prefix + nested_objects() + suffix,
        headers={**route.headers(tenant), **JSON},
    )

    expect_problem(response, 400, "MALFORMED_JSON")
    assert await digest(db, tenant) == before


@pytest.mark.parametrize("nesting", ["arrays", "objects"])
@pytest.mark.parametrize("where", ["data", "top-level"])
async def test_deep_nesting_in_an_inbound_webhook_is_422(
    hooks_client: Client, db: Pool, where: str, nesting: str
) -> None:
    """Regression: skipping a `data` nested 10,000 deep exhausted the decoder's stack (500)."""
    nested = nested_arrays() if nesting == "arrays" else nested_objects()
    body = b'{"id": "evt_deep", "type": "t", "data": ' + nested + b"}" if where == "data" else nested
    events = await db.fetchval("SELECT count(*) FROM inbound_events")

    response = await hooks_client.post(
        "/webhooks/acme", content=body, headers={**JSON, "webhook-signature": acme_signature(body)}
    )

    expect_problem(response, 422, "VALIDATION_ERROR", path="$")
    assert await db.fetchval("SELECT count(*) FROM inbound_events") == events


# ---- strings and arrays far over their limits ----------------------------------------------------

LONG_STRINGS = [
    ("register", ("display_name",), 101),
    ("register", ("email",), 255),
    ("register", ("password",), 129),
    ("login", ("login",), 255),
    ("refresh", ("refresh_token",), 513),
    ("profile", ("bio",), 1001),
    ("profile", ("avatar_url",), 2049),
    ("org-create", ("name",), 101),
    ("key-create", ("name",), 101),
    ("item-create", ("name",), 201),
    ("item-create", ("description",), 10_001),
    ("item-batch", ("items", 1, "name"), 201),
    ("item-patch", ("name",), 201),
    ("post-create", ("title",), 301),
    ("post-patch", ("body",), 100_001),
    ("comment-create", ("body",), 10_001),
    ("endpoint-create", ("description",), 501),
    ("endpoint-create", ("url",), 2049),
    ("endpoint-create", ("event_types", 0), 65),
]


def _long_ids() -> list[str]:
    return [f"{name}:{'.'.join(map(str, slot))}" for name, slot, _ in LONG_STRINGS]


@pytest.mark.parametrize("huge", [False, True], ids=["just-over", "500k"])
@pytest.mark.parametrize(("route_name", "slot", "length"), LONG_STRINGS, ids=_long_ids())
async def test_string_over_its_limit_is_422_with_its_path(
    client: Client,
    db: Pool,
    tenant: Tenant,
    route_name: str,
    slot: Slot,
    length: int,
    huge: bool,
) -> None:
    route = BY_NAME[route_name]
    text = "x" * (500_000 if huge else length)
    if slot == ("email",):
        text = text[:-12] + "@example.com"
    if slot in (("avatar_url",), ("url",)):
        text = "https://example.com/" + text[20:]
    body = with_value(route.body(), slot, text)
    before = await digest(db, tenant)

    response = await client.request(route.method, route.url(tenant), json=body, headers=route.headers(tenant))

    problem = expect_problem(response, 422, "VALIDATION_ERROR")
    expected_path = "$" + "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in slot)
    assert expected_path in [error["path"] for error in problem["errors"]], problem
    assert await digest(db, tenant) == before


HUGE_ARRAYS = {
    "tags": ("item-create", lambda: {"name": "n", "tags": ["t"] * 100_000}),
    "batch": ("item-batch", lambda: {"items": [{"name": "n"}] * 50_000}),
    "event-types": (
        "endpoint-create",
        lambda: {"url": "https://example.com/h", "event_types": ["*"] * 100_000},
    ),
    "metadata-keys": ("item-create", lambda: {"name": "n", "metadata": {f"k{i}": i for i in range(60_000)}}),
    "metadata-array": ("item-create", lambda: {"name": "n", "metadata": {"k": list(range(100_000))}}),
    "top-level": ("item-create", lambda: list(range(100_000))),
}


@pytest.mark.parametrize("case", list(HUGE_ARRAYS))
async def test_huge_array_is_a_4xx(client: Client, db: Pool, tenant: Tenant, case: str) -> None:
    route_name, make = HUGE_ARRAYS[case]
    route = BY_NAME[route_name]
    before = await digest(db, tenant)

    response = await client.request(
        route.method, route.url(tenant), json=make(), headers=route.headers(tenant)
    )

    expect_problem(response, 422, "VALIDATION_ERROR")
    assert await digest(db, tenant) == before


# ---- bytes that are not UTF-8 ---------------------------------------------------------------------

BAD_BYTES = {
    "invalid-byte": b"\xff\xfe",
    "overlong-slash": b"\xc0\xaf",
    "overlong-nul": b"\xc0\x80",
    "overlong-3-byte": b"\xe0\x80\xaf",
    "encoded-surrogate": b"\xed\xa0\x80",
    "truncated-sequence": b"\xe2\x82",
    "beyond-unicode": b"\xf4\x90\x80\x80",
    "lone-high-surrogate-escape": b"\\ud800",
    "lone-low-surrogate-escape": b"\\udc00",
    "reversed-surrogates-escape": b"\\udc00\\ud800",
    "high-then-letter-escape": b"\\ud800A",
}


@pytest.mark.parametrize("bad", list(BAD_BYTES))
@pytest.mark.parametrize("route_name", ["register", "profile", "item-create", "item-batch", "comment-patch"])
async def test_undecodable_string_is_400(
    client: Client, db: Pool, tenant: Tenant, route_name: str, bad: str
) -> None:
    route = BY_NAME[route_name]
    slot = next(slot for slot, kind in route.slots.items() if kind == "text")
    body = json.dumps(with_value(route.body(), slot, "a@@BAD@@b")).encode()
    content = body.replace(b"@@BAD@@", BAD_BYTES[bad])
    before = await digest(db, tenant)

    response = await client.request(
        route.method, route.url(tenant), content=content, headers={**route.headers(tenant), **JSON}
    )

    problem = expect_problem(response, 400, "MALFORMED_JSON")
    assert "\\x" not in problem["detail"]
    assert await digest(db, tenant) == before


@pytest.mark.parametrize("bad", ["invalid-byte", "overlong-nul", "lone-high-surrogate-escape"])
async def test_undecodable_inbound_webhook_is_a_4xx(hooks_client: Client, db: Pool, bad: str) -> None:
    """Refused as malformed (400) or as not an event object (422), never stored."""
    body = b'{"id": "evt_' + BAD_BYTES[bad] + b'", "type": "t"}'
    events = await db.fetchval("SELECT count(*) FROM inbound_events")

    response = await hooks_client.post(
        "/webhooks/acme", content=body, headers={**JSON, "webhook-signature": acme_signature(body)}
    )

    assert_bad_body(response)
    assert await db.fetchval("SELECT count(*) FROM inbound_events") == events


def assert_bad_body(response: httpx.Response) -> None:
    assert response.status_code in (400, 422), response.text
    expect_problem(
        response,
        response.status_code,
        "MALFORMED_JSON" if response.status_code == 400 else "VALIDATION_ERROR",
    )
