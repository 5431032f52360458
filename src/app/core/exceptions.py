"""The one error tree of the service and the handlers that turn any exception into a problem.

Services raise `AppError` subclasses and never build responses; the handlers registered by
`exception_handlers()` render every exception (ours, Litestar's, the driver's, anything
unexpected) in the RFC 9457 form of `app.core.responses`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import asyncpg
import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    SerializationException,
    ValidationException,
)

from app.core.logging import get_logger
from app.core.responses import ErrorCode, FieldError, Problem, create_error_response

__all__ = [
    "AppError",
    "AuthenticationError",
    "ConflictError",
    "InvalidTokenError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PreconditionFailedError",
    "RateLimitedError",
    "ServiceUnavailableError",
    "UnsupportedMediaTypeError",
    "ValidationError",
    "exception_handlers",
    "is_expected_error",
]

logger = get_logger(__name__)


class AppError(HTTPException):
    """Base of every error the service raises on purpose. Status and code are class attributes."""

    status_code: int = 400
    error_code: ClassVar[ErrorCode] = ErrorCode.BAD_REQUEST
    default_message: ClassVar[str] = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        details: list[FieldError] | None = None,
        error_code: ErrorCode | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = details or []
        self.code = error_code or self.error_code
        super().__init__(detail=self.message, status_code=self.status_code, headers=headers)


class ValidationError(AppError):
    status_code = 422
    error_code = ErrorCode.VALIDATION_ERROR
    default_message = "The request contains invalid values."

    @classmethod
    def for_field(cls, path: str, message: str, *, location: str = "body") -> ValidationError:
        """A validation error about one field, `path` being a JSON path such as ``$.email``."""
        return cls(message, details=[FieldError(path=path, message=message, location=location)])

    @classmethod
    def missing_parameter(cls, name: str, *, location: str = "query") -> ValidationError:
        """A required parameter was not sent (Litestar's own answer for a missing one, worded alike)."""
        return cls(
            f"The {location} parameter {name!r} is required.",
            details=[FieldError(path=name, message="required", location=location)],
        )

    @classmethod
    def from_msgspec(cls, exc: msgspec.ValidationError, message: str | None = None) -> ValidationError:
        """msgspec's "Expected `int`, got `str` - at `$.price`" as an error at ``$.price``."""
        text = str(exc)
        match = _AT_PATH.search(text)
        field = (
            FieldError(path="$", message=text)
            if match is None
            else FieldError(path="$" + match.group("path"), message=text[: match.start()])
        )
        return cls(message, details=[field])


class InvalidTokenError(AppError):
    """A one-time token from an email (verification, reset) is unknown, used or expired."""

    status_code = 400
    error_code = ErrorCode.INVALID_TOKEN
    default_message = "The token is invalid, expired or already used."


class AuthenticationError(AppError):
    status_code = 401
    error_code = ErrorCode.AUTHENTICATION_REQUIRED
    default_message = "Authentication is required."

    def __init__(self, message: str | None = None, *, error_code: ErrorCode | None = None) -> None:
        super().__init__(message, error_code=error_code, headers={"WWW-Authenticate": "Bearer"})


class PermissionDeniedError(AppError):
    status_code = 403
    error_code = ErrorCode.PERMISSION_DENIED
    default_message = "You do not have permission to do this."


class NotFoundError(AppError):
    status_code = 404
    error_code = ErrorCode.NOT_FOUND
    default_message = "The resource does not exist."


class ConflictError(AppError):
    status_code = 409
    error_code = ErrorCode.CONFLICT
    default_message = "The request conflicts with the current state of the resource."


class PreconditionFailedError(AppError):
    status_code = 412
    error_code = ErrorCode.PRECONDITION_FAILED
    default_message = "The resource has changed since you read it."


class UnsupportedMediaTypeError(AppError):
    status_code = 415
    error_code = ErrorCode.UNSUPPORTED_MEDIA_TYPE
    default_message = "Send the request body as JSON: Content-Type: application/json."


class PayloadTooLargeError(AppError):
    status_code = 413
    error_code = ErrorCode.PAYLOAD_TOO_LARGE
    default_message = "The request body is too large."


class RateLimitedError(AppError):
    """Too many requests: 429 with ``Retry-After`` (whole seconds, at least 1) and any extra headers."""

    status_code = 429
    error_code = ErrorCode.RATE_LIMITED
    default_message = "Too many requests; retry after the number of seconds in Retry-After."

    def __init__(
        self, message: str | None = None, *, retry_after: int, headers: dict[str, str] | None = None
    ) -> None:
        self.retry_after = max(1, retry_after)
        super().__init__(message, headers={"Retry-After": str(self.retry_after), **(headers or {})})


class ServiceUnavailableError(AppError):
    status_code = 503
    error_code = ErrorCode.SERVICE_UNAVAILABLE
    default_message = "A dependency is unavailable; retry shortly."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, headers={"Retry-After": "1"})


# Errors of the database driver that mean "the database is not answering", not "bad request".
_DB_UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.QueryCanceledError,
    asyncpg.AdminShutdownError,
    # A pooled connection left mid-operation by a server shutdown ("cannot switch to state ...;
    # another operation is in progress"): seen when PostgreSQL restarts under load (tests/faults).
    asyncpg.InternalClientError,
    ConnectionError,
    asyncio.TimeoutError,
    OSError,
)
_STATUS_CODES: Mapping[int, ErrorCode] = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.AUTHENTICATION_REQUIRED,
    403: ErrorCode.PERMISSION_DENIED,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.CONFLICT,
    412: ErrorCode.PRECONDITION_FAILED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    422: ErrorCode.VALIDATION_ERROR,
    429: ErrorCode.RATE_LIMITED,
    503: ErrorCode.SERVICE_UNAVAILABLE,
}
_AT_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_JSON_PATH_RE = re.compile(r" - at `\$(?:\.data)?(?P<path>[^`]*)`$")
# What Litestar's signature model says when a route expecting a body received none.
_MISSING_BODY = "missing required field `data`"
# What Litestar says when a required query, header, cookie or path parameter is absent.
_MISSING_PARAMETER = re.compile(
    r"^Missing required (?P<kind>query|header|cookie|path) parameter '(?P<name>[^']+)'"
)


def _is_decode_failure(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) is the JSON decoder refusing the body."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, SerializationException | msgspec.DecodeError):
            return True
        seen = seen.__cause__
    return False


def is_expected_error(exc: BaseException) -> bool:
    """True for outcomes that are the client's doing (4xx): never reported to Sentry as errors."""
    if isinstance(exc, HTTPException):
        return exc.status_code < 500
    return isinstance(
        exc,
        asyncpg.IntegrityConstraintViolationError
        | asyncpg.DataError
        | UnicodeDecodeError
        | SerializationException,
    )


def _app_error(_: Request[Any, Any, Any], exc: AppError) -> Response[Problem]:
    return create_error_response(
        error_code=exc.code,
        message=exc.message,
        details=exc.details,
        status_code=exc.status_code,
        headers=exc.headers,
    )


def _field_errors(exc: ValidationException) -> list[FieldError]:
    """Field paths from Litestar's validation error: JSON paths for bodies, names for params."""
    cause = exc.__cause__
    extra: list[Any] = exc.extra if isinstance(exc.extra, list) else []  # pyright: ignore[reportUnknownMemberType]
    errors: list[FieldError] = []
    for item in extra:
        if not isinstance(item, dict):
            continue
        entry: dict[str, Any] = item  # pyright: ignore[reportUnknownVariableType]
        raw_source = entry.get("source") or "body"
        source = str(getattr(raw_source, "value", raw_source))  # Litestar's ParamType enum
        message = str(entry.get("message", "invalid value"))
        if source == "body":
            path = "$"
            if isinstance(cause, msgspec.ValidationError) and (m := _JSON_PATH_RE.search(str(cause))):
                path = "$" + m.group("path")
            errors.append(FieldError(path=path, message=message, location="body"))
        else:
            errors.append(FieldError(path=str(entry.get("key", "")), message=message, location=source))
    return errors


def _validation(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Problem]:
    if _MISSING_BODY in str(exc.__cause__):
        return _malformed_json(_, exc)
    details = _field_errors(exc)
    message = "The request contains invalid values."
    missing = _MISSING_PARAMETER.match(exc.detail)
    if not details and missing is not None:  # Litestar names it only in its message
        kind, name = missing.group("kind"), missing.group("name")
        missing_error = ValidationError.missing_parameter(name, location=kind)
        message, details = missing_error.message, missing_error.details
    return create_error_response(
        error_code=ErrorCode.VALIDATION_ERROR, message=message, details=details, status_code=422
    )


def _http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    status = exc.status_code
    if status >= 500:
        return _unexpected(_, exc)
    code = _STATUS_CODES.get(status, ErrorCode.BAD_REQUEST)
    message = exc.detail
    if status == 400 and _is_decode_failure(exc):
        return _malformed_json(_, exc)
    if isinstance(exc, NotFoundException):
        message = "No such resource or route."
    elif isinstance(exc, MethodNotAllowedException):
        message = "This method is not allowed on this route."
    elif status == 413:
        message = "The request body is too large."
    return create_error_response(error_code=code, message=message, status_code=status, headers=exc.headers)


def _malformed_json(_: Request[Any, Any, Any], __: BaseException) -> Response[Problem]:
    """Empty, truncated, non-UTF-8 or otherwise undecodable bodies."""
    return create_error_response(
        error_code=ErrorCode.MALFORMED_JSON,
        message="The request body is not a valid UTF-8 JSON document.",
        status_code=400,
    )


def _unique_violation(_: Request[Any, Any, Any], __: asyncpg.UniqueViolationError) -> Response[Problem]:
    # A race the service's own pre-checks could not see: the constraint is the final word.
    return create_error_response(
        error_code=ErrorCode.CONFLICT,
        message="The resource already exists.",
        status_code=409,
    )


def _constraint_violation(
    _: Request[Any, Any, Any], exc: asyncpg.IntegrityConstraintViolationError
) -> Response[Problem]:
    # A CHECK, NOT NULL or foreign key the request structs did not anticipate: the data is
    # protected by the constraint, and the client hears 422 rather than 500.
    logger.warning("constraint rejected a write", extra={"constraint": exc.constraint_name})
    return create_error_response(
        error_code=ErrorCode.VALIDATION_ERROR,
        message="A value is not acceptable.",
        status_code=422,
    )


def _data_error(_: Request[Any, Any, Any], exc: asyncpg.DataError) -> Response[Problem]:
    logger.info("database rejected a value", extra={"sqlstate": exc.sqlstate})
    return create_error_response(
        error_code=ErrorCode.VALIDATION_ERROR,
        message="A value is not acceptable (for example it contains a NUL character).",
        status_code=422,
    )


def _unavailable(_: Request[Any, Any, Any], exc: BaseException) -> Response[Problem]:
    logger.warning("dependency unavailable", extra={"error": type(exc).__name__})
    return create_error_response(
        error_code=ErrorCode.SERVICE_UNAVAILABLE,
        message="A dependency is unavailable; retry shortly.",
        status_code=503,
        headers={"Retry-After": "1"},
    )


def _unexpected(_: Request[Any, Any, Any], exc: BaseException) -> Response[Problem]:
    logger.error("unhandled error", exc_info=exc)
    return create_error_response(
        error_code=ErrorCode.INTERNAL_ERROR,
        message="An unexpected error occurred; it has been reported.",
        status_code=500,
    )


def exception_handlers() -> dict[type[BaseException], Callable[..., Response[Problem]]]:
    """The mapping given to `Litestar(exception_handlers=...)`; most specific class wins."""
    handlers: dict[type[BaseException], Callable[..., Response[Problem]]] = {
        AppError: _app_error,
        ValidationException: _validation,
        HTTPException: _http,
        UnicodeDecodeError: _malformed_json,
        SerializationException: _malformed_json,
        asyncpg.IntegrityConstraintViolationError: _constraint_violation,
        asyncpg.UniqueViolationError: _unique_violation,
        asyncpg.DataError: _data_error,
        Exception: _unexpected,
    }
    for exc_type in _DB_UNAVAILABLE:
        handlers[exc_type] = _unavailable
    return handlers
