"""The response contract: a success envelope and RFC 9457 problem details for errors.

Success bodies are ``{"data": ..., "meta": {...}}`` (``meta`` only when it says something).
Error bodies are ``application/problem+json`` with ``type``, ``title``, ``status``, ``detail``,
``code`` (a stable `ErrorCode`), ``request_id`` and ``errors`` (field-level details).
"""

from __future__ import annotations

from enum import StrEnum
from http import HTTPStatus
from typing import Any, Generic, TypeVar

import msgspec
from litestar import Response
from litestar.openapi.datastructures import ResponseSpec

from app.core.context import current_request_id

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "Envelope",
    "ErrorCode",
    "FieldError",
    "Problem",
    "create_error_response",
    "create_success_response",
    "problem_responses",
]

T = TypeVar("T")
PROBLEM_MEDIA_TYPE = "application/problem+json"


class ErrorCode(StrEnum):
    """Stable machine-readable error codes; clients switch on these, so never rename one."""

    BAD_REQUEST = "BAD_REQUEST"
    MALFORMED_JSON = "MALFORMED_JSON"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    INVALID_CURSOR = "INVALID_CURSOR"
    AUTHENTICATION_REQUIRED = "AUTHENTICATION_REQUIRED"
    INVALID_TOKEN = "INVALID_TOKEN"
    INVALID_SIGNATURE = "INVALID_SIGNATURE"
    WEAK_PASSWORD = "WEAK_PASSWORD"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    INVALID_MFA_CODE = "INVALID_MFA_CODE"
    MFA_ALREADY_ENABLED = "MFA_ALREADY_ENABLED"
    MFA_NOT_ENABLED = "MFA_NOT_ENABLED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    CONFLICT = "CONFLICT"
    EMAIL_TAKEN = "EMAIL_TAKEN"
    USERNAME_TAKEN = "USERNAME_TAKEN"
    SLUG_TAKEN = "SLUG_TAKEN"
    LAST_OWNER = "LAST_OWNER"
    ALREADY_MEMBER = "ALREADY_MEMBER"
    EMAIL_NOT_VERIFIED = "EMAIL_NOT_VERIFIED"
    INVITATION_EMAIL_MISMATCH = "INVITATION_EMAIL_MISMATCH"
    PRECONDITION_FAILED = "PRECONDITION_FAILED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    RATE_LIMITED = "RATE_LIMITED"
    IDEMPOTENCY_KEY_IN_USE = "IDEMPOTENCY_KEY_IN_USE"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"


class FieldError(msgspec.Struct, omit_defaults=True):
    """One problem with one input value; `path` is a JSON path into the body (``$.email``)
    or the parameter's name for query/path/header values."""

    path: str
    message: str
    location: str = "body"


class Problem(msgspec.Struct, omit_defaults=True):
    """RFC 9457 problem details with this service's extension members."""

    type: str
    title: str
    status: int
    detail: str
    code: ErrorCode
    request_id: str | None = None
    errors: list[FieldError] = msgspec.field(default_factory=lambda: [])


class Envelope(msgspec.Struct, Generic[T], omit_defaults=True):
    """The success envelope; `meta` carries pagination or a message when there is one."""

    data: T
    meta: dict[str, Any] | None = None


def problem_type(code: ErrorCode) -> str:
    """The problem `type` URI for a code; documented in docs/ERRORS.md."""
    return f"urn:app:error:{code.value.lower().replace('_', '-')}"


def create_success_response(
    data: T,
    *,
    meta: dict[str, Any] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response[Envelope[T]]:
    """Wrap `data` (a Struct, list of Structs or scalar) in the success envelope."""
    return Response(Envelope(data=data, meta=meta), status_code=status_code, headers=headers)


def create_error_response(
    *,
    error_code: ErrorCode,
    message: str,
    details: list[FieldError] | None = None,
    status_code: int = 400,
    headers: dict[str, str] | None = None,
) -> Response[Problem]:
    """Build an `application/problem+json` response for `error_code`."""
    problem = Problem(
        type=problem_type(error_code),
        title=HTTPStatus(status_code).phrase,
        status=status_code,
        detail=message,
        code=error_code,
        request_id=current_request_id(),
        errors=details or [],
    )
    return Response(problem, status_code=status_code, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def problem_responses(
    *statuses: int, server_errors: bool = True, rate_limited: bool = True
) -> dict[int, ResponseSpec]:
    """OpenAPI response specs for the error statuses a route can return (DESIGN.md §3).

    500 and 503 (a dependency such as the database is down) are added unless `server_errors`
    is False, since any route that touches a dependency can return them; 429 unless
    `rate_limited` is False (every route but health, docs and metrics has a rate limit).
    """
    if rate_limited and 429 not in statuses:
        statuses = (*statuses, 429)
    if server_errors:
        statuses = (*statuses, 500, 503)
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=HTTPStatus(status).phrase,
            media_type=PROBLEM_MEDIA_TYPE,
            # Litestar would invent a random example (`"status": 2562`, any `code`): a document
            # that differs on every start and shows clients problems this API never sends.
            generate_examples=False,
        )
        for status in statuses
    }
