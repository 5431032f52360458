"""Per-request context carried by a contextvar into logs, errors and Sentry.

The middleware sets one mutable `RequestContext` per request; code further in (the auth
dependency, services) fills in the caller. Mutating the object, rather than setting new
contextvars, keeps the values visible to the middleware's access-log line even when Litestar
resolves dependencies in child tasks.
"""

from __future__ import annotations

from contextvars import ContextVar

__all__ = ["RequestContext", "current_context", "current_request_id"]


class RequestContext:
    __slots__ = ("client_ip", "org_id", "request_id", "user_id")

    def __init__(self, request_id: str, client_ip: str | None = None) -> None:
        self.request_id = request_id
        self.client_ip = client_ip
        self.user_id: str | None = None
        self.org_id: str | None = None


_context: ContextVar[RequestContext | None] = ContextVar("request_context", default=None)


def current_context() -> RequestContext | None:
    return _context.get()


def set_context(context: RequestContext | None) -> None:
    _context.set(context)


def current_request_id() -> str | None:
    context = _context.get()
    return context.request_id if context else None
