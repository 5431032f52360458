"""The `Idempotency-Key` header on routes that create things (``**IDEMPOTENT`` in the route
decorator): the HTTP side of `app.idempotency.store`.

The route's middleware reads the header, identifies the caller (an API key or a user: keys are
per caller), reads the body (the fingerprint of the request), and lets the store run the route
inside the key's transaction. Without the header a request passes straight through.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, cast

from litestar import Request
from litestar.openapi.spec import Operation, Parameter, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState

from app.accounts.auth import authenticate_request
from app.core.exceptions import PayloadTooLargeError, ValidationError
from app.core.rate_limit import RateLimiter
from app.idempotency.store import CapturedResponse, IdempotencyStore, request_fingerprint
from app.orgs.auth import ORG_ACCESS, authorize_org_request, provide_org_actor

__all__ = ["IDEMPOTENCY_KEY_HEADER", "IDEMPOTENT", "IdempotencyMiddleware", "IdempotentOperation"]

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
_HEADER = b"idempotency-key"
_REPLAYED = (b"idempotent-replayed", b"true")
# Printable ASCII without spaces, as the IETF draft's examples and every major API accept.
_VALID_KEY = re.compile(rb"[\x21-\x7e]{1,255}")
STATE_KEY = "idempotency"


def _key(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == _HEADER:
            if not _VALID_KEY.fullmatch(value):
                raise ValidationError.for_field(
                    IDEMPOTENCY_KEY_HEADER,
                    "Use 1 to 255 printable ASCII characters without spaces (a UUID is a good key).",
                    location="header",
                )
            return value.decode("ascii")
    return None


async def _caller(request: Request[Any, Any, Any]) -> str:
    """Whose key it is: the API key, or the signed-in user (on org routes and elsewhere)."""
    if request.route_handler.opt.get(ORG_ACCESS) is not None:
        await authorize_org_request(request)  # 401/403/404 before anything is stored
        actor = provide_org_actor(request)
        return f"{'api_key' if actor.is_api_key else 'user'}:{actor.actor_id}"
    principal = await authenticate_request(request)
    return f"user:{principal.user_id}"


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError()
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class IdempotencyMiddleware:
    """Route middleware; see the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _key(scope) if scope["type"] == "http" else None
        if key is None:
            await self.app(scope, receive, send)
            return
        http_scope = cast("HTTPScope", scope)
        state = http_scope["litestar_app"].state
        store: IdempotencyStore = state[STATE_KEY]
        request: Request[Any, Any, Any] = Request(scope, receive)
        caller = await _caller(request)
        # Replays and refusals count against the caller's rate limit like any request.
        limiter: RateLimiter | None = state.get("rate_limiter")
        if limiter is not None:
            await limiter.enforce(request)
        body = await _read_body(receive, state["settings"].max_request_body_bytes)
        body_sent = False

        async def replay_body() -> Any:
            nonlocal body_sent
            if body_sent:
                return await receive()
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def execute() -> CapturedResponse:
            captured = CapturedResponse()

            async def capture(message: Message) -> None:
                if message["type"] == "http.response.start":
                    captured.status = message["status"]
                    captured.headers = [(bytes(k), bytes(v)) for k, v in message.get("headers") or []]
                elif message["type"] == "http.response.body":
                    captured.body += message.get("body", b"")

            await self.app(scope, replay_body, capture)
            # Nothing has reached the client yet: Litestar's exception handling must still answer
            # (with a problem) if storing the response fails after the route produced it.
            ScopeState.from_scope(scope).response_started = False
            return captured

        method = str(http_scope["method"])
        path = http_scope["path"]
        response, replayed = await store.run(
            caller=caller,
            key=key,
            method=method,
            path=path,
            fingerprint=request_fingerprint(method, path, http_scope["query_string"], body),
            execute=execute,
        )
        headers = [*response.headers, _REPLAYED] if replayed else response.headers
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body, "more_body": False})


_KEY_PARAMETER = Parameter(
    name=IDEMPOTENCY_KEY_HEADER,
    param_in="header",
    required=False,
    description=(
        "Makes a retry safe: the first successful response is stored for IDEMPOTENCY_TTL_HOURS "
        "(24 h) and replayed, with `Idempotent-Replayed: true`, to a retry with the same key and "
        "body. The same key with a different request: 422 IDEMPOTENCY_KEY_REUSED; while the first "
        "request is still running: 409 IDEMPOTENCY_KEY_IN_USE."
    ),
    schema=Schema(type=OpenAPIType.STRING, min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$"),
)


@dataclass
class IdempotentOperation(Operation):
    """The OpenAPI operation of an idempotent route: documents the `Idempotency-Key` header."""

    def __post_init__(self) -> None:
        self.parameters = [*(self.parameters or []), _KEY_PARAMETER]


# Route decorator options: ``@post("", **IDEMPOTENT, responses=problem_responses(..., 409, 422))``.
IDEMPOTENT: dict[str, Any] = {"middleware": [IdempotencyMiddleware], "operation_class": IdempotentOperation}
