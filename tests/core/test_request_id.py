"""Every response carries X-Request-ID: the client's if well-formed, else a generated one."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from litestar import Litestar

from tests.core.conftest import asgi_request
from tests.factories import Client

GENERATED = re.compile(r"[0-9a-f]{32}")


def request_id(response: httpx.Response) -> str:
    values = response.headers.get_list("x-request-id")
    assert len(values) == 1, f"expected one X-Request-ID, got {values}"
    return values[0]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/health/live", 200),
        ("GET", "/no/such/route", 404),
        ("DELETE", "/health/live", 405),
        ("POST", "/auth/login", 422),
        ("GET", "/users/me", 401),
    ],
)
async def test_every_response_carries_a_generated_request_id(
    client: Client, method: str, path: str, status: int
) -> None:
    response = await client.request(method, path, json={} if method == "POST" else None)

    assert response.status_code == status
    assert GENERATED.fullmatch(request_id(response))


async def test_500_carries_the_request_id_in_header_and_body(raising_client: Client) -> None:
    response = await raising_client.get("/test/raise/runtime")

    assert response.status_code == 500
    assert GENERATED.fullmatch(request_id(response))
    assert response.json()["request_id"] == request_id(response)


async def test_generated_ids_differ_per_request(client: Client) -> None:
    ids = {request_id(await client.get("/health/live")) for _ in range(5)}

    assert len(ids) == 5


@pytest.mark.parametrize(
    "client_id",
    [
        "abc123",
        "0f8fad5b-d9cb-469f-a165-70867728950e",
        "trace.span:1_2-3",
        "x" * 128,
    ],
)
async def test_well_formed_client_id_is_echoed(client: Client, client_id: str) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": client_id})

    assert response.status_code == 200
    assert request_id(response) == client_id


async def test_client_id_is_the_request_id_of_the_problem(client: Client) -> None:
    response = await client.get("/no/such/route", headers={"X-Request-ID": "client-id-404"})

    assert response.status_code == 404
    assert request_id(response) == "client-id-404"
    assert response.json()["request_id"] == "client-id-404"


async def test_client_id_reaches_a_500_problem(raising_client: Client) -> None:
    response = await raising_client.get("/test/raise/runtime", headers={"X-Request-ID": "client-id-500"})

    assert response.status_code == 500
    assert request_id(response) == "client-id-500"
    assert response.json()["request_id"] == "client-id-500"


@pytest.mark.parametrize(
    "client_id",
    ["x" * 129, "has space", "semi;colon", 'quote"d', "slash/ed", "<script>", "ünïcode", ""],
    ids=["too-long", "space", "semicolon", "quote", "slash", "markup", "non-ascii", "empty"],
)
async def test_malformed_client_id_is_replaced(client: Client, client_id: str) -> None:
    response = await client.get("/no/such/route", headers=[(b"X-Request-ID", client_id.encode())])

    generated = request_id(response)
    assert generated != client_id
    assert GENERATED.fullmatch(generated)
    assert response.json()["request_id"] == generated


@pytest.mark.parametrize(
    "raw",
    [
        b"abc\r\nSet-Cookie: session=evil",
        b"abc\nX-Injected: 1",
        b"abc\rX-Injected: 1",
        b"abc\x00def",
        b"abc\tdef",
    ],
    ids=["crlf", "lf", "cr", "nul", "tab"],
)
async def test_header_injection_attempt_is_replaced(app: Litestar, client: Client, raw: bytes) -> None:
    del client  # keeps the shared app's lifespan running
    response = await asgi_request(app, "GET", "/no/such/route", headers=[(b"x-request-id", raw)])

    assert response.status == 404
    ids = response.header("x-request-id")
    assert len(ids) == 1
    assert GENERATED.fullmatch(ids[0])
    assert response.json()["request_id"] == ids[0]
    assert not response.header("x-injected")
    assert not response.header("set-cookie")
    for name, value in response.headers:
        assert b"\r" not in name + value
        assert b"\n" not in name + value


async def test_repeated_header_yields_one_id(app: Litestar, client: Client) -> None:
    del client
    response = await asgi_request(
        app, "GET", "/health/live", headers=[(b"x-request-id", b"first"), (b"x-request-id", b"second")]
    )

    assert response.status == 200
    assert response.header("x-request-id") in (["first"], ["second"])


async def test_the_id_is_per_request_under_concurrency(client: Client) -> None:
    ids = [f"concurrent-{n}" for n in range(20)]
    responses = await asyncio.gather(
        *(client.get("/no/such/route", headers={"X-Request-ID": rid}) for rid in ids)
    )

    for rid, response in zip(ids, responses, strict=True):
        assert request_id(response) == rid
        assert response.json()["request_id"] == rid
