"""The webhook signature scheme, the same for inbound and outbound webhooks.

``Webhook-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]`` where each v1 is the hex
HMAC-SHA256, keyed with one secret, of ``"{t}." + raw body``. A sender signs with every secret it
currently holds (several during a rotation); a receiver accepts the request if any v1 matches any
of its secrets and `t` is within the tolerance of its clock (a replayed old request fails).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from enum import StrEnum

__all__ = [
    "DEFAULT_TOLERANCE_SECONDS",
    "SIGNATURE_HEADER",
    "SignatureError",
    "SignatureFailure",
    "compute_signature",
    "signature_header",
    "verify_signature",
]

SIGNATURE_HEADER = "Webhook-Signature"
DEFAULT_TOLERANCE_SECONDS = 300
_MAX_HEADER_CHARS = 2048
_MAX_SIGNATURES = 16
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HEX_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")


class SignatureFailure(StrEnum):
    MISSING = "missing"
    MALFORMED = "malformed"
    TIMESTAMP_OUT_OF_TOLERANCE = "timestamp_out_of_tolerance"
    MISMATCH = "mismatch"


_MESSAGES = {
    SignatureFailure.MISSING: f"The {SIGNATURE_HEADER} header is missing.",
    SignatureFailure.MALFORMED: (
        f"The {SIGNATURE_HEADER} header is malformed: expected t=<unix time>,v1=<hex>."
    ),
    SignatureFailure.TIMESTAMP_OUT_OF_TOLERANCE: (
        "The signature's timestamp is too far from the current time."
    ),
    SignatureFailure.MISMATCH: "The signature does not match the body.",
}


class SignatureError(Exception):
    """The request is not authentically signed; `reason` says how (safe to show the sender)."""

    def __init__(self, reason: SignatureFailure) -> None:
        super().__init__(_MESSAGES[reason])
        self.reason = reason


def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    if not secrets:
        raise ValueError("at least one secret is needed to sign")
    return ",".join([f"t={timestamp}", *(f"v1={compute_signature(s, timestamp, body)}" for s in secrets)])


def _parse(header: str) -> tuple[int, list[str]]:
    if len(header) > _MAX_HEADER_CHARS:
        raise SignatureError(SignatureFailure.MALFORMED)
    timestamps: list[str] = []
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError(SignatureFailure.MALFORMED)
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            if not _HEX_SIGNATURE.fullmatch(value):
                raise SignatureError(SignatureFailure.MALFORMED)
            signatures.append(value.lower())
    if len(timestamps) != 1 or not _TIMESTAMP.fullmatch(timestamps[0]):
        raise SignatureError(SignatureFailure.MALFORMED)
    if not signatures or len(signatures) > _MAX_SIGNATURES:
        raise SignatureError(SignatureFailure.MALFORMED)
    return int(timestamps[0]), signatures


def verify_signature(
    header: str | None,
    body: bytes,
    secrets: Sequence[str],
    *,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> int:
    """The verified timestamp, or `SignatureError`. Unknown keys (a future v2) are ignored."""
    if not secrets:
        raise ValueError("no secrets to verify with")
    if not header or not header.strip():
        raise SignatureError(SignatureFailure.MISSING)
    timestamp, signatures = _parse(header)
    if abs(now - timestamp) > tolerance:
        raise SignatureError(SignatureFailure.TIMESTAMP_OUT_OF_TOLERANCE)
    expected = [compute_signature(secret, timestamp, body) for secret in secrets]
    matched = False
    for candidate in signatures:
        for wanted in expected:
            matched |= hmac.compare_digest(candidate, wanted)
    if not matched:
        raise SignatureError(SignatureFailure.MISMATCH)
    return timestamp
