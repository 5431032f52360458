"""Every JSON body of the accounts API: malformed JSON, bad encoding, unknown fields, NUL
characters and oversize bodies are refused with the right problem, before any effect."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, NamedTuple

import pytest
from litestar.testing import AsyncTestClient

from app.main import create_app
from tests.factories import Client, User, expect_data, expect_problem, new_account, signed_in_user


class Endpoint(NamedTuple):
    method: str
    path: str
    needs_auth: bool
    body: dict[str, Any]  # otherwise valid
    text_field: str  # a string field, to carry a NUL or a huge value


ENDPOINTS = [
    Endpoint("POST", "/auth/register", False, new_account(), "display_name"),
    Endpoint("POST", "/auth/verify-email", False, {"token": "abc"}, "token"),
    Endpoint("POST", "/auth/login", False, {"login": "ada", "password": "secret-secret"}, "login"),
    Endpoint("POST", "/auth/refresh", False, {"refresh_token": "abc"}, "refresh_token"),
    Endpoint("POST", "/auth/password-reset/request", False, {"email": "ada@example.com"}, "email"),
    Endpoint(
        "POST",
        "/auth/password-reset/confirm",
        False,
        {"token": "abc", "new_password": "a-new-password"},
        "new_password",
    ),
    Endpoint(
        "POST",
        "/auth/password/change",
        True,
        {"current_password": "whatever-it-is", "new_password": "a-new-password"},
        "current_password",
    ),
    Endpoint("PATCH", "/users/me", True, {"bio": "hello"}, "bio"),
]
IDS = [f"{e.method} {e.path}" for e in ENDPOINTS]
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
async def user(client: Client) -> User:
    return await signed_in_user(client)


def _headers(endpoint: Endpoint, user: User) -> dict[str, str]:
    return {**JSON, **(user.headers if endpoint.needs_auth else {})}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
async def test_malformed_json_is_400_malformed_json(client: Client, user: User, endpoint: Endpoint) -> None:
    response = await client.request(
        endpoint.method, endpoint.path, content=b"{not json}", headers=_headers(endpoint, user)
    )

    expect_problem(response, 400, "MALFORMED_JSON")


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml"],
)
async def test_a_body_that_is_not_json_is_415(
    client: Client, user: User, endpoint: Endpoint, content_type: str
) -> None:
    """Even when the bytes happen to parse as JSON, the declared media type is refused."""
    headers = {**_headers(endpoint, user), "content-type": content_type}

    response = await client.request(
        endpoint.method, endpoint.path, content=json.dumps(endpoint.body).encode(), headers=headers
    )

    expect_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_a_body_without_content_type_is_415(client: Client) -> None:
    response = await client.post("/auth/register", content=json.dumps(new_account()).encode())

    expect_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_nothing_is_stored_when_the_media_type_is_refused(client: Client) -> None:
    account = new_account()
    refused = await client.post(
        "/auth/register", content=json.dumps(account).encode(), headers={"content-type": "text/plain"}
    )
    expect_problem(refused, 415, "UNSUPPORTED_MEDIA_TYPE")

    accepted = await client.post("/auth/register", json=account)

    expect_data(accepted, 201)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/merge-patch+json",
    ],
)
async def test_json_media_types_are_accepted(client: Client, content_type: str) -> None:
    response = await client.post(
        "/auth/password-reset/request",
        content=b'{"email": "nobody@example.com"}',
        headers={"content-type": content_type},
    )

    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"{'single': 'quotes'}", id="single-quotes"),
        pytest.param(b'{"email": "a@example.com",}', id="trailing-comma"),
        pytest.param(b'{"email": "a@example.com"} extra', id="trailing-garbage"),
        pytest.param(b'{"email": ', id="truncated"),
        pytest.param(b"", id="empty"),
    ],
)
async def test_malformed_json_variants_are_400_malformed_json(client: Client, content: bytes) -> None:
    response = await client.post("/auth/password-reset/request", content=content, headers=JSON)

    expect_problem(response, 400, "MALFORMED_JSON")


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
async def test_invalid_utf8_is_400_malformed_json(client: Client, user: User, endpoint: Endpoint) -> None:
    content = b'{"' + endpoint.text_field.encode() + b'": "\xff\xfe"}'

    response = await client.request(
        endpoint.method, endpoint.path, content=content, headers=_headers(endpoint, user)
    )

    expect_problem(response, 400, "MALFORMED_JSON")


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
async def test_unknown_field_is_422(client: Client, user: User, endpoint: Endpoint) -> None:
    body = {**endpoint.body, "unexpected": 1}

    response = await client.request(
        endpoint.method, endpoint.path, json=body, headers=_headers(endpoint, user)
    )

    problem = expect_problem(response, 422, "VALIDATION_ERROR", path="$")
    assert "unknown field `unexpected`" in problem["errors"][0]["message"]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
async def test_json_array_instead_of_object_is_422(client: Client, user: User, endpoint: Endpoint) -> None:
    response = await client.request(
        endpoint.method, endpoint.path, json=[endpoint.body], headers=_headers(endpoint, user)
    )

    expect_problem(response, 422, "VALIDATION_ERROR", path="$")


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
async def test_nul_character_in_a_string_is_422(client: Client, user: User, endpoint: Endpoint) -> None:
    body = {**endpoint.body, endpoint.text_field: "abc\x00defghijkl"}

    response = await client.request(
        endpoint.method, endpoint.path, json=body, headers=_headers(endpoint, user)
    )

    expect_problem(response, 422, "VALIDATION_ERROR", path=f"$.{endpoint.text_field}")


# ---- body size cap --------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def small_body_client(make_settings: Any) -> AsyncIterator[Client]:
    """An app whose request bodies are capped at 1 KiB."""
    app = create_app(make_settings(max_request_body_bytes="1024"))
    async with AsyncTestClient(app) as small:
        yield small


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
async def test_body_over_the_size_cap_is_413(
    small_body_client: Client, user: User, endpoint: Endpoint
) -> None:
    body = {**endpoint.body, endpoint.text_field: "x" * 2000}

    response = await small_body_client.request(
        endpoint.method, endpoint.path, json=body, headers=_headers(endpoint, user)
    )

    expect_problem(response, 413, "PAYLOAD_TOO_LARGE")


async def test_body_under_the_size_cap_is_accepted(small_body_client: Client) -> None:
    response = await small_body_client.post("/auth/register", json=new_account())

    expect_data(response, 201)
