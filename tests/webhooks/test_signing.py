"""The webhook signature scheme: a known answer, rotation, and every way to fail."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from app.webhooks.signing import (
    SignatureError,
    SignatureFailure,
    compute_signature,
    signature_header,
    verify_signature,
)

BODY = b'{"id":"evt_1","type":"item.created"}'
NOW = 1_764_403_200


def test_the_scheme_is_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(b"s3cret-0123456789", b"1764403200." + BODY, hashlib.sha256).hexdigest()
    assert compute_signature("s3cret-0123456789", NOW, BODY) == expected
    assert signature_header(["s3cret-0123456789"], NOW, BODY) == f"t={NOW},v1={expected}"


def test_rotation_both_ways() -> None:
    header = signature_header(["old-secret-xxxxxxxx", "new-secret-xxxxxxxx"], NOW, BODY)
    assert verify_signature(header, BODY, ["new-secret-xxxxxxxx"], now=NOW) == NOW
    only_old = signature_header(["old-secret-xxxxxxxx"], NOW, BODY)
    assert verify_signature(only_old, BODY, ["old-secret-xxxxxxxx", "new-secret-xxxxxxxx"], now=NOW) == NOW


def failure(header: str | None, body: bytes = BODY, now: float = NOW) -> SignatureFailure:
    with pytest.raises(SignatureError) as caught:
        verify_signature(header, body, ["the-secret-xxxxxxxx"], now=now)
    assert "the-secret" not in str(caught.value)
    return caught.value.reason


def good(t: int = NOW) -> str:
    return signature_header(["the-secret-xxxxxxxx"], t, BODY)


def test_each_failure_has_its_reason() -> None:
    assert failure(None) is SignatureFailure.MISSING
    assert failure("  ") is SignatureFailure.MISSING
    assert failure("garbage") is SignatureFailure.MALFORMED
    assert failure(f"t={NOW}") is SignatureFailure.MALFORMED
    assert failure(f"t={NOW},t={NOW}," + good().split(",")[1]) is SignatureFailure.MALFORMED
    assert failure("t=12ab," + good().split(",")[1]) is SignatureFailure.MALFORMED
    assert failure(f"t={NOW},v1=abc") is SignatureFailure.MALFORMED
    assert failure(good() + ",v1=" + "0" * 64 * 40) is SignatureFailure.MALFORMED
    assert failure(",".join([f"t={NOW}"] + ["v1=" + "0" * 64] * 17)) is SignatureFailure.MALFORMED
    assert failure(good(), now=NOW + 301) is SignatureFailure.TIMESTAMP_OUT_OF_TOLERANCE
    assert failure(good(), now=NOW - 301) is SignatureFailure.TIMESTAMP_OUT_OF_TOLERANCE
    assert failure(good(), body=BODY + b" ") is SignatureFailure.MISMATCH
    tampered_time = good().replace(f"t={NOW}", f"t={NOW + 1}")
    assert failure(tampered_time) is SignatureFailure.MISMATCH


def test_unknown_schemes_are_ignored_and_case_does_not_matter() -> None:
    header = good() + ",v2=whatever"
    assert verify_signature(header, BODY, ["the-secret-xxxxxxxx"], now=NOW) == NOW
    assert verify_signature(
        good().upper().replace("T=", "t=").replace("V1=", "v1="), BODY, ["the-secret-xxxxxxxx"], now=NOW
    )


def test_programming_errors_are_not_caller_errors() -> None:
    with pytest.raises(ValueError, match="no secrets"):
        verify_signature(good(), BODY, [], now=NOW)
    with pytest.raises(ValueError, match="at least one secret"):
        signature_header([], NOW, BODY)
