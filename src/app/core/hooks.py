"""Several ``before_request`` steps in one: Litestar takes a single hook per layer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request

__all__ = ["BeforeRequest", "in_order"]

BeforeRequest = Callable[[Request[Any, Any, Any]], Awaitable[None]]


def in_order(*steps: BeforeRequest) -> BeforeRequest:
    """A ``before_request`` hook running `steps` one after the other; the first to raise stops it."""

    async def hook(request: Request[Any, Any, Any]) -> None:
        for step in steps:
            await step(request)

    return hook
