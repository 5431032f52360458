"""Request context for every HTTP exchange: request id, access log line, log/Sentry context.

This is done in `ContextualLitestar.__call__`, around the whole application, rather than as a
Litestar middleware: Litestar runs middleware per route, so 404 and 405 answers (which have
no route) would otherwise carry no `X-Request-ID` and leave no access-log line.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any, cast

from litestar import Litestar
from litestar.types import LifeSpanReceive, LifeSpanScope, LifeSpanSend, Message, Receive, Scope, Send

from app.core.access_log import access_log
from app.core.context import RequestContext, set_context
from app.core.metrics import request_metrics
from app.core.rate_limit import RATE_LIMIT_HEADERS

__all__ = ["REQUEST_ID_HEADER", "ContextualLitestar"]

REQUEST_ID_HEADER = "X-Request-ID"
_HEADER_KEY = b"x-request-id"
# Accepted from clients as is; anything else (CR/LF injection, huge values) is replaced.
_VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


def _request_id(scope: Scope) -> str:
    for key, value in scope["headers"]:
        if key == _HEADER_KEY and _VALID_REQUEST_ID.fullmatch(value):
            return value.decode()
    return secrets.token_hex(16)


class ContextualLitestar(Litestar):
    """Litestar with a request context (and optional access log) around every HTTP request."""

    access_log: bool = True

    async def __call__(
        self,
        scope: Scope | LifeSpanScope,
        receive: Receive | LifeSpanReceive,
        send: Send | LifeSpanSend,
    ) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        send = cast("Send", send)
        client = scope.get("client")
        context = RequestContext(_request_id(scope), client[0] if client else None)
        set_context(context)
        header = (_HEADER_KEY, context.request_id.encode())
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers: list[Any] = list(message.get("headers") or [])
                headers.append(header)
                limited = scope["state"].get(RATE_LIMIT_HEADERS)  # set by a passed rate-limit check
                if limited is not None:
                    headers.extend(limited)
                message["headers"] = headers
            await send(message)

        try:
            await super().__call__(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            # The router put the matched route's template in the scope (none for a 404).
            request_metrics.observe(scope.get("path_template"), scope["method"], status, elapsed)
            if self.access_log and access_log.enabled():
                access_log.write(context, scope["method"], scope["path"], status, round(elapsed * 1000, 2))
            set_context(None)
