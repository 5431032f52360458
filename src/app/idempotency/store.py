"""Idempotency keys: at most one effect per (caller, key), and the same answer to every retry.

The key's row and the request's effect commit in one PostgreSQL transaction (DESIGN.md §5):
`Database.enclosing` makes the service calls of the request join the transaction that holds
the key. So either both the effect and its stored response commit, or neither does, even if
the process dies half-way; a retry then finds the stored response or runs the request afresh.
While a request holds its key (a transaction-level advisory lock), a concurrent request with
the same key is answered 409 at once instead of waiting for it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

import msgspec

from app.core.db import Database
from app.core.exceptions import ConflictError, ValidationError
from app.core.responses import ErrorCode
from app.idempotency import queries

__all__ = [
    "CapturedResponse",
    "IdempotencyStore",
    "SecretSealer",
    "purge_expired_keys",
    "request_fingerprint",
]

Header = tuple[bytes, bytes]


class SecretSealer(Protocol):
    """Authenticated encryption of stored response bodies (they may hold a secret shown once)."""

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> bytes: ...

    def decrypt(self, ciphertext: bytes, associated_data: bytes) -> bytes: ...


class CapturedResponse(msgspec.Struct, kw_only=True):
    """A whole HTTP response, as the application produced it or as it was stored."""

    status: int = 500
    headers: list[Header] = msgspec.field(default_factory=lambda: [])
    body: bytes = b""

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status < 300


def request_fingerprint(method: str, path: str, query_string: bytes, body: bytes) -> bytes:
    """What makes two requests "the same request": method, path, query string and exact body."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query_string, body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


class _DiscardedError(Exception):
    """Rolls the enclosing transaction back and carries the response out of it."""

    def __init__(self, response: CapturedResponse) -> None:
        super().__init__()
        self.response = response


def key_in_use() -> ConflictError:
    return ConflictError(
        "A request with this Idempotency-Key is still in progress; retry once it has finished.",
        error_code=ErrorCode.IDEMPOTENCY_KEY_IN_USE,
        headers={"Retry-After": "1"},
    )


def key_reused() -> ValidationError:
    return ValidationError(
        "This Idempotency-Key was already used for a different request; use a new key.",
        error_code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
    )


class IdempotencyStore:
    """Runs a request under its idempotency key; one instance per process."""

    def __init__(self, *, db: Database, sealer: SecretSealer, ttl: timedelta) -> None:
        self._db = db
        self._sealer = sealer
        self._ttl = ttl

    async def run(
        self,
        *,
        caller: str,
        key: str,
        method: str,
        path: str,
        fingerprint: bytes,
        execute: Callable[[], Awaitable[CapturedResponse]],
    ) -> tuple[CapturedResponse, bool]:
        """The response to send, and whether it is a replay of the stored one.

        A successful (2xx) response is stored with the effect; any other answer rolls the whole
        request back, leaves no trace, and a retry with the same key runs again.
        """
        associated = f"{caller}\n{key}".encode()
        try:
            async with self._db.enclosing() as conn:
                if not await queries.lock_idempotency_key(conn, caller=caller, idempotency_key=key):
                    raise key_in_use()
                stored = await queries.get_idempotency_key(conn, caller=caller, idempotency_key=key)
                if stored is not None:
                    if not hmac.compare_digest(stored.request_hash, fingerprint):
                        raise key_reused()
                    headers = [
                        (name.encode("latin-1"), value.encode("latin-1"))
                        for name, value in stored.response_headers
                    ]
                    body = self._sealer.decrypt(stored.response_body, associated)
                    return CapturedResponse(status=stored.status_code, headers=headers, body=body), True
                response = await execute()
                if not response.succeeded:
                    raise _DiscardedError(response)
                await queries.insert_idempotency_key(
                    conn,
                    caller=caller,
                    idempotency_key=key,
                    request_hash=fingerprint,
                    method=method,
                    path=path,
                    status_code=response.status,
                    response_headers=[
                        (name.decode("latin-1"), value.decode("latin-1")) for name, value in response.headers
                    ],
                    response_body=self._sealer.encrypt(response.body, associated),
                    expires_at=datetime.now(UTC) + self._ttl,
                )
                return response, False
        except _DiscardedError as discard:
            return discard.response, False


async def purge_expired_keys(db: Database) -> int:
    """Delete up to 1,000 expired keys; run by the workers' housekeeping."""
    async with db.connection() as conn:
        return await queries.delete_expired_idempotency_keys(conn)
