"""Check JSON bodies strictly: ``"price": "5"`` is a 422, not a silent 5.

Litestar converts a decoded body into the route's Struct with msgspec's lenient mode
(``strict=False``, hard-coded in Litestar 2.x), which turns numeric strings into numbers and
``"true"`` into True. An API that documents `price` as an integer must refuse a string.
This ``before_request`` step runs after the org access check (app.orgs.auth), and first
authenticates the caller of routes that take a signed-in user as a dependency (so every caller
is authenticated before their body is read: 401 comes before 422), then, before Litestar parses
the body, it decodes the body strictly into the route's body type and answers 422 with the
field's JSON path when strict decoding refuses what lenient decoding would accept. Undecodable
JSON is left to Litestar (400 MALFORMED_JSON). The body is read once: Litestar keeps it on the
request for its own parsing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Request
from litestar.handlers.base import BaseRouteHandler

from app.core.content_type import ACCEPTS_ANY_MEDIA_TYPE, require_json_body
from app.core.exceptions import AppError, ValidationError
from app.core.responses import ErrorCode

__all__ = ["strict_json_body"]

# Keyed by id() with the handler kept alongside: the reference keeps the id from being reused by
# another app's handler (tests build many apps) and the identity check makes sure of it.
_decoders: dict[int, tuple[BaseRouteHandler, msgspec.json.Decoder[Any] | None]] = {}


def _decoder(handler: BaseRouteHandler) -> msgspec.json.Decoder[Any] | None:
    """A strict decoder for the handler's body type, built once per route."""
    entry = _decoders.get(id(handler))
    if entry is None or entry[0] is not handler:
        field = handler.parsed_data_field
        entry = (handler, None if field is None else msgspec.json.Decoder(field.annotation, strict=True))
        _decoders[id(handler)] = entry
    return entry[1]


def _nested_too_deeply() -> AppError:
    # msgspec recurses once per level of nesting: thousands of `[` exhaust the stack (RecursionError).
    return AppError("The request body is nested too deeply.", error_code=ErrorCode.MALFORMED_JSON)


def _is_json(body: bytes) -> bool:
    try:
        msgspec.json.decode(body)
    except msgspec.DecodeError:
        return False
    except RecursionError:
        raise _nested_too_deeply() from None
    return True


Authenticate = Callable[[Request[Any, Any, Any]], Awaitable[object]]


def strict_json_body(
    *, authenticate: Authenticate, dependency: str
) -> Callable[[Request[Any, Any, Any]], Awaitable[None]]:
    """The app-wide ``before_request`` hook. `authenticate` runs first for routes that have the
    dependency named `dependency` (it must remember its answer for the dependency to reuse)."""

    async def hook(request: Request[Any, Any, Any]) -> None:
        handler = request.route_handler
        if handler.opt.get(ACCEPTS_ANY_MEDIA_TYPE):
            return
        decoder = _decoder(handler)
        if decoder is None:
            return
        if dependency in handler.resolve_dependencies():
            await authenticate(request)
        require_json_body(request, handler)  # 415 before the body is read
        await _check(request, decoder)

    return hook


async def _check(request: Request[Any, Any, Any], decoder: msgspec.json.Decoder[Any]) -> None:
    body = await request.body()
    if not body:
        return
    try:
        decoder.decode(body)
    except msgspec.ValidationError as exc:
        if not _is_json(body):
            return  # the typed decoder can fail on a field before it sees the syntax error
        raise ValidationError.from_msgspec(exc) from None
    except msgspec.DecodeError:
        return  # not JSON: Litestar's own decoding answers 400 MALFORMED_JSON
    except RecursionError:
        raise _nested_too_deeply() from None
