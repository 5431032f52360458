"""Header injection through X-Request-ID (and Idempotency-Key) on real routes: the response carries
one generated id and no injected header, and the audit log records the generated id, never the
client's text. tests/core/test_request_id.py covers the same values on a 404."""

from __future__ import annotations

import json
import re
from uuid import UUID

import pytest

from tests.abuse.conftest import SMALL_BODY_BYTES, Pool, Tenant, raw_request
from tests.factories import Client

GENERATED = re.compile(r"[0-9a-f]{32}")
INJECTIONS = {
    "crlf-set-cookie": b"abc\r\nSet-Cookie: session=evil",
    "lf-header": b"abc\nX-Injected: 1",
    "cr-header": b"abc\rX-Injected: 1",
    "crlf-body-split": b"abc\r\n\r\n<html>evil</html>",
    "nul": b"abc\x00X-Injected: 1",
    "very-long": b"a" * 10_000,
    "unicode-utf8": "r\u00e9q\u2028X-Injected: 1".encode(),
    "unicode-latin1": "r\u00e9q-\u00ff".encode("latin-1"),
    "json-quote": b'abc","request_id":"forged',
}


def json_headers(body: bytes, content_type: bytes = b"application/json") -> list[tuple[bytes, bytes]]:
    return [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]


def auth(tenant: Tenant) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode(), value.encode()) for name, value in tenant.headers.items()]


def assert_clean(headers: list[tuple[bytes, bytes]], body: bytes, injected: bytes) -> str:
    """One generated X-Request-ID, no injected header, nothing of the injection echoed; the id."""
    ids = [value for name, value in headers if name.lower() == b"x-request-id"]
    assert len(ids) == 1, ids
    assert GENERATED.fullmatch(ids[0].decode())
    names = {name.lower() for name, _ in headers}
    assert b"x-injected" not in names
    assert b"set-cookie" not in names
    for name, value in headers:
        assert b"\r" not in name + value
        assert b"\n" not in name + value
    assert injected not in body
    if body:
        assert json.loads(body)["request_id"] == ids[0].decode()
    return ids[0].decode()


@pytest.mark.parametrize("injection", list(INJECTIONS))
async def test_injected_request_id_on_a_write_is_replaced_everywhere(
    client: Client, db: Pool, tenant: Tenant, injection: str
) -> None:
    """An API key creation is audited with the request id: the generated one is stored."""
    injected = INJECTIONS[injection]
    body = json.dumps({"name": "traced", "role": "viewer"}).encode()

    response = await raw_request(
        client,
        "POST",
        tenant.url("/orgs/{org}/api-keys"),
        headers=[*auth(tenant), *json_headers(body), (b"x-request-id", injected)],
        chunks=[body],
    )

    assert response.status == 201, response.body
    request_id = assert_clean(response.headers, b"", injected)
    stored = await db.fetchval(
        "SELECT request_id FROM audit_events WHERE org_id = $1 AND target_id = $2",
        UUID(tenant.org_id),
        UUID(response.json()["data"]["id"]),
    )
    assert stored == request_id


ERROR_CASES = {
    "401": ("GET", "/orgs/{org}/items", False, None),
    "404": ("GET", "/orgs/{org}/items/not-a-uuid", True, None),
    "422": ("POST", "/orgs/{org}/items", True, b'{"name": ""}'),
    "400": ("POST", "/orgs/{org}/items", True, b"{not json"),
    "415": ("POST", "/orgs/{org}/items", True, b"name=x"),
}


@pytest.mark.parametrize("injection", ["crlf-set-cookie", "very-long", "unicode-utf8", "json-quote"])
@pytest.mark.parametrize("case", list(ERROR_CASES))
async def test_injected_request_id_on_an_error_is_replaced(
    client: Client, tenant: Tenant, case: str, injection: str
) -> None:
    method, template, signed_in, body = ERROR_CASES[case]
    content_type = b"text/plain" if case == "415" else b"application/json"
    headers = [*json_headers(body or b"", content_type), (b"x-request-id", INJECTIONS[injection])]

    response = await raw_request(
        client,
        method,
        tenant.url(template),
        headers=[*(auth(tenant) if signed_in else []), *headers],
        chunks=[body or b""],
    )

    assert response.status == int(case), response.body
    assert response.header("content-type")[0].startswith("application/problem+json")
    assert_clean(response.headers, response.body, INJECTIONS[injection])


async def test_injected_request_id_on_a_413_is_replaced(small_client: Client, tenant: Tenant) -> None:
    injected = INJECTIONS["crlf-set-cookie"]

    response = await raw_request(
        small_client,
        "POST",
        tenant.url("/orgs/{org}/items"),
        headers=[*auth(tenant), (b"content-type", b"application/json"), (b"x-request-id", injected)],
        chunks=[b'{"name": "' + b"x" * SMALL_BODY_BYTES + b'"}'],
    )

    assert response.status == 413, response.body
    assert_clean(response.headers, response.body, injected)


@pytest.mark.parametrize("injection", ["crlf-set-cookie", "nul", "very-long", "unicode-utf8"])
async def test_injected_idempotency_key_is_refused_and_not_echoed(
    client: Client, db: Pool, tenant: Tenant, injection: str
) -> None:
    injected = INJECTIONS[injection]
    keys = await db.fetchval("SELECT count(*) FROM idempotency_keys")

    response = await raw_request(
        client,
        "POST",
        tenant.url("/orgs/{org}/items"),
        headers=[*auth(tenant), *json_headers(b'{"name": "Keyed"}'), (b"idempotency-key", injected)],
        chunks=[b'{"name": "Keyed"}'],
    )

    assert 400 <= response.status < 500, response.body
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert_clean(response.headers, response.body, injected)
    assert await db.fetchval("SELECT count(*) FROM idempotency_keys") == keys
