"""POST /webhooks/{source}: inbound webhooks from providers (docs/EVENTS.md)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, post
from litestar.params import Parameter

from app.core.content_type import ACCEPTS_ANY_MEDIA_TYPE
from app.core.responses import Envelope, create_success_response, problem_responses
from app.inbound.service import InboundService
from app.inbound.structs import InboundReceipt
from app.webhooks.signing import SIGNATURE_HEADER

__all__ = ["InboundWebhooksController"]

SourceName = Annotated[str, Parameter(pattern=r"^[a-z0-9][a-z0-9_]{0,31}$", max_length=32)]


class InboundWebhooksController(Controller):
    path = "/webhooks"
    tags = ["webhooks"]

    @post(
        "/{source:str}",
        status_code=202,
        summary="Receive a signed webhook event",
        description=(
            "The body is a JSON object with the provider's event `id` and `type`, signed in the "
            f'`{SIGNATURE_HEADER}` header (`t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">`). '
            "A new event answers 202 and is processed by a worker; a repeated delivery of the "
            "same event id answers 200 with `duplicate: true` and is not processed again."
        ),
        opt={ACCEPTS_ANY_MEDIA_TYPE: True},
        security=[],
        responses=problem_responses(400, 401, 404, 413, 422),
    )
    async def receive(
        self, source: SourceName, request: Request[Any, Any, Any]
    ) -> Response[Envelope[InboundReceipt]]:
        service: InboundService = request.app.state["inbound"]
        service.secrets_of(source)  # 404 before reading the body of an unknown source
        length = request.headers.get("content-length")
        service.check_size(int(length) if length and length.isascii() and length.isdigit() else None)
        body = await request.body()
        receipt = await service.receive(source, request.headers.get(SIGNATURE_HEADER), body)
        return create_success_response(receipt, status_code=200 if receipt.duplicate else 202)
