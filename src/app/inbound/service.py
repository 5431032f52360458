"""Receiving an inbound webhook: verify the signature, store the raw event once, queue it.

One statement stores the event and queues its processing job (and NOTIFYs a worker), so the
answer goes back after a single round trip; nothing heavier happens in the request.
"""

from __future__ import annotations

import time

import msgspec

from app.core.config import Settings
from app.core.db import Database
from app.core.exceptions import AuthenticationError, NotFoundError, PayloadTooLargeError, ValidationError
from app.core.ids import new_id
from app.core.responses import ErrorCode, FieldError
from app.inbound import queries
from app.inbound.structs import InboundEnvelope, InboundReceipt
from app.jobs.kinds import INBOUND_PROCESS
from app.webhooks.signing import SignatureError, verify_signature

__all__ = ["InboundService", "InvalidSignatureError"]

_decode_envelope = msgspec.json.Decoder(InboundEnvelope).decode


class InvalidSignatureError(AuthenticationError):
    def __init__(self, message: str) -> None:
        super().__init__(message, error_code=ErrorCode.INVALID_SIGNATURE)


class InboundService:
    def __init__(self, *, settings: Settings, db: Database) -> None:
        self._settings = settings
        self._db = db

    def secrets_of(self, source: str) -> tuple[str, ...]:
        """The source's secrets; 404 for a source that is not enabled (or not a valid name)."""
        secrets = self._settings.webhook_secrets.get(source)
        if not secrets:
            raise NotFoundError("No such webhook source.")
        return secrets

    def check_size(self, declared_length: int | None) -> None:
        if declared_length is not None and declared_length > self._settings.webhook_max_body_bytes:
            raise PayloadTooLargeError(
                f"Webhook bodies are limited to {self._settings.webhook_max_body_bytes} bytes."
            )

    async def receive(self, source: str, signature: str | None, body: bytes) -> InboundReceipt:
        secrets = self.secrets_of(source)
        self.check_size(len(body))
        try:
            verify_signature(
                signature, body, secrets, now=time.time(), tolerance=self._settings.webhook_tolerance_seconds
            )
        except SignatureError as exc:
            raise InvalidSignatureError(str(exc)) from None
        envelope = _envelope(body)
        async with self._db.connection() as conn:
            stored = await queries.insert_inbound_event(
                conn,
                id=new_id(),
                source=source,
                event_id=envelope.id,
                event_type=envelope.type,
                body=body,
                job_id=new_id(),
                max_attempts=INBOUND_PROCESS.max_attempts,
            )
        return InboundReceipt(source=source, event_id=envelope.id, duplicate=not stored)


def _envelope(body: bytes) -> InboundEnvelope:
    """The event's `id` and `type` (a signed body that is not such JSON is still the sender's bug)."""
    try:
        return _decode_envelope(body)
    except msgspec.ValidationError as exc:
        raise ValidationError.from_msgspec(exc) from None
    except (msgspec.DecodeError, RecursionError):  # RecursionError: nested thousands deep
        raise ValidationError(
            "The webhook body must be a JSON object with `id` and `type`.",
            details=[FieldError(path="$", message="not valid JSON")],
        ) from None
