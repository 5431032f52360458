"""Every error, whatever raised it, is an RFC 9457 problem with a stable code and no internals."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.core.config import Settings
from app.core.responses import ErrorCode, problem_type
from app.main import create_app
from tests.core.conftest import SECRET_DETAIL, asgi_request
from tests.factories import Client

PROBLEM = "application/problem+json"
MEMBERS = ("type", "title", "status", "detail", "code", "request_id")
JSON = {"content-type": "application/json"}
LOGIN = {"login": "nobody@example.com", "password": "not-the-password"}


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert `response` is a complete problem document with `status` and `code`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0].strip() == PROBLEM
    body: dict[str, Any] = response.json()
    for member in MEMBERS:
        assert member in body, f"{member} missing from {body}"
    assert body["status"] == status
    assert body["code"] == code, body
    assert isinstance(body["type"], str)
    assert body["type"]
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert isinstance(body.get("errors", []), list)
    return body


# ---- routing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/no/such/route", "/auth", "/users/me/extra", "/health/live/x"])
async def test_unknown_route_is_404_not_found(client: Client, path: str) -> None:
    problem(await client.get(path), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path"),
    [("DELETE", "/health/live"), ("GET", "/auth/login"), ("PUT", "/users/me"), ("POST", "/health/ready")],
)
async def test_wrong_method_is_405_method_not_allowed(client: Client, method: str, path: str) -> None:
    problem(await client.request(method, path), 405, "METHOD_NOT_ALLOWED")


async def test_405_names_the_allowed_methods(client: Client) -> None:
    response = await client.delete("/auth/login")

    assert response.status_code == 405
    allowed = {m.strip() for m in response.headers.get("allow", "").split(",")}
    assert "POST" in allowed


# ---- request bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"{not json}", b'{"login": "a",}', b"{'login': 'a'}", b"{}}"])
async def test_malformed_json_is_400_malformed_json(client: Client, body: bytes) -> None:
    response = await client.post("/auth/login", content=body, headers=JSON)

    problem(response, 400, "MALFORMED_JSON")


@pytest.mark.parametrize("body", [b"nul", b'{"login": "a"', b"["], ids=["nul", "object", "array"])
async def test_truncated_json_is_400_malformed_json(client: Client, body: bytes) -> None:
    response = await client.post("/auth/login", content=body, headers=JSON)

    problem(response, 400, "MALFORMED_JSON")


@pytest.mark.parametrize(
    "body",
    [b'{"login": "\xff\xfe", "password": "not-the-password"}', b"\xc3\x28", b'{"login": "ab\xed\xa0\x80"}'],
    ids=["in-string", "bare", "surrogate"],
)
async def test_invalid_utf8_body_is_400(client: Client, body: bytes) -> None:
    response = await client.post("/auth/login", content=body, headers=JSON)

    body_json = problem(response, 400, "MALFORMED_JSON")
    assert "\\x" not in body_json["detail"]


@pytest.mark.parametrize("body", [b"[]", b'["login", "password"]', b'"login"', b"42", b"null", b"true"])
async def test_body_that_is_not_an_object_is_422(client: Client, body: bytes) -> None:
    response = await client.post("/auth/login", content=body, headers=JSON)

    body_json = problem(response, 422, "VALIDATION_ERROR")
    assert body_json["errors"], body_json
    assert all(error["path"].startswith("$") for error in body_json["errors"])


async def test_unknown_field_is_422_with_a_field_path(client: Client) -> None:
    response = await client.post("/auth/login", json={**LOGIN, "is_admin": True})

    body = problem(response, 422, "VALIDATION_ERROR")
    assert body["errors"], body
    for error in body["errors"]:
        assert isinstance(error["path"], str)
        assert error["path"].startswith("$")
        assert error["message"]
    assert any("is_admin" in error["path"] or "is_admin" in error["message"] for error in body["errors"])


async def test_wrong_type_is_422_with_the_field_path(client: Client) -> None:
    response = await client.post("/auth/login", json={**LOGIN, "password": 12345678})

    body = problem(response, 422, "VALIDATION_ERROR")
    assert "$.password" in [error["path"] for error in body["errors"]], body


@pytest.fixture(scope="module")
def small_body_app(make_settings: Callable[..., Settings]) -> Litestar:
    return create_app(make_settings(max_request_body_bytes="1024"))


@pytest.fixture(scope="module")
async def small_body_client(small_body_app: Litestar) -> AsyncIterator[Client]:
    async with AsyncTestClient(small_body_app) as test_client:
        yield test_client


async def test_body_over_the_cap_is_413(small_body_client: Client) -> None:
    body = {"login": "x" * 2000, "password": "not-the-password"}

    response = await small_body_client.post("/auth/login", json=body)

    problem(response, 413, "PAYLOAD_TOO_LARGE")


async def test_streamed_body_over_the_cap_is_413(small_body_app: Litestar, small_body_client: Client) -> None:
    """No Content-Length header (a chunked upload): the cap still applies while reading."""
    del small_body_client  # keeps the app's lifespan running
    chunks = [b'{"login": "', *([b"x" * 512] * 4), b'", "password": "not-the-password"}']

    response = await asgi_request(
        small_body_app,
        "POST",
        "/auth/login",
        headers=[(b"content-type", b"application/json")],
        chunks=chunks,
    )

    assert response.status == 413, response.body
    assert response.header("content-type")[0].startswith(PROBLEM)
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"


async def test_declared_length_over_the_cap_is_413_before_reading(
    small_body_app: Litestar, small_body_client: Client
) -> None:
    """A Content-Length above the cap is refused even if the body sent is small."""
    del small_body_client
    response = await asgi_request(
        small_body_app,
        "POST",
        "/auth/login",
        headers=[(b"content-type", b"application/json"), (b"content-length", b"1000000")],
        chunks=[b"{}"],
    )

    assert response.status == 413, response.body
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"


async def test_body_under_the_cap_is_processed(small_body_client: Client) -> None:
    response = await small_body_client.post("/auth/login", json=LOGIN)

    problem(response, 401, "INVALID_CREDENTIALS")


# ---- exceptions raised inside handlers --------------------------------------------------------


async def test_unexpected_error_is_500_without_internals(raising_client: Client) -> None:
    response = await raising_client.get("/test/raise/runtime")

    body = problem(response, 500, "INTERNAL_ERROR")
    headers = str(response.headers)
    for leak in (SECRET_DETAIL, "RuntimeError", "Traceback", "raise_named", ".py"):
        assert leak not in response.text, f"500 leaks {leak!r}"
        assert leak not in headers, f"500 leaks {leak!r}"
    assert body.get("errors", []) == []


async def test_unexpected_key_error_is_500_not_404(raising_client: Client) -> None:
    """A KeyError from a bug is not 'not found': nothing but AppErrors pick client statuses."""
    response = await raising_client.get("/test/raise/key")

    problem(response, 500, "INTERNAL_ERROR")
    assert SECRET_DETAIL not in response.text


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("unique", 409, "CONFLICT"),
        ("repertoire", 422, "VALIDATION_ERROR"),
        ("data", 422, "VALIDATION_ERROR"),
        ("not-found", 404, "NOT_FOUND"),
        ("conflict", 409, "CONFLICT"),
        ("forbidden", 403, "PERMISSION_DENIED"),
        ("invalid-field", 422, "VALIDATION_ERROR"),
    ],
)
async def test_raised_error_maps_to_status_and_code(
    raising_client: Client, name: str, status: int, code: str
) -> None:
    response = await raising_client.get(f"/test/raise/{name}")

    problem(response, status, code)


@pytest.mark.parametrize(
    ("name", "driver_message"),
    [("unique", "duplicate key"), ("repertoire", "invalid byte sequence"), ("data", "invalid input value")],
)
async def test_database_error_messages_are_not_echoed(
    raising_client: Client, name: str, driver_message: str
) -> None:
    response = await raising_client.get(f"/test/raise/{name}")

    assert response.status_code < 500
    assert driver_message not in response.text


async def test_app_error_keeps_its_message_and_field_details(raising_client: Client) -> None:
    conflict = problem(await raising_client.get("/test/raise/conflict"), 409, "CONFLICT")
    invalid = problem(await raising_client.get("/test/raise/invalid-field"), 422, "VALIDATION_ERROR")

    assert conflict["detail"] == "Already there."
    assert [(e["path"], e["message"]) for e in invalid["errors"]] == [("$.name", "Too long.")]


@pytest.mark.parametrize("name", ["refused", "cannot-connect", "unavailable"])
async def test_dependency_down_is_503_with_retry_after(raising_client: Client, name: str) -> None:
    response = await raising_client.get(f"/test/raise/{name}")

    problem(response, 503, "SERVICE_UNAVAILABLE")
    retry_after = response.headers.get("retry-after")
    assert retry_after is not None
    assert retry_after.isdigit()
    assert int(retry_after) >= 1


@pytest.mark.parametrize("code", list(ErrorCode))
def test_problem_types_are_distinct_stable_uris(code: ErrorCode) -> None:
    assert re.fullmatch(r"urn:app:error:[a-z-]+", problem_type(code))
    assert len({problem_type(other) for other in ErrorCode}) == len(ErrorCode)
