"""The webhook signature scheme: a known answer, rotation, and every way to fail."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from app.webhooks.signing import (
    DEFAULT_TOLERANCE_SECONDS,
    SIGNATURE_HEADER,
    SignatureError,
    SignatureFailure,
    compute_signature,
    signature_header,
    verify_signature,
)

BODY = b'{"id":"evt_1","type":"item.created"}'
NOW = 1_764_403_200
SECRET = "the-secret-xxxxxxxx"
OLD, NEW = "old-secret-xxxxxxxx", "new-secret-xxxxxxxx"


def good(t: int = NOW, body: bytes = BODY, secret: str = SECRET) -> str:
    return signature_header([secret], t, body)


def signature_of(header: str) -> str:
    return header.split(",")[1]


def failure(header: str | None, body: bytes = BODY, now: float = NOW) -> SignatureFailure:
    with pytest.raises(SignatureError) as caught:
        verify_signature(header, body, [SECRET], now=now)
    message = str(caught.value)
    assert SECRET not in message
    assert compute_signature(SECRET, NOW, body) not in message
    return caught.value.reason


def test_constants() -> None:
    assert SIGNATURE_HEADER == "Webhook-Signature"
    assert DEFAULT_TOLERANCE_SECONDS == 300


def test_known_answer() -> None:
    # Fixed by hand: if this changes, every sender and receiver in the wild breaks.
    expected = "c89214b5b5da833daed6f0b8c5bb6bd58cea9022bd80ccc78230f3942d632925"
    assert hmac.new(b"whsec_test", b'1700000000.{"id":"evt_1"}', hashlib.sha256).hexdigest() == expected
    assert compute_signature("whsec_test", 1_700_000_000, b'{"id":"evt_1"}') == expected
    assert signature_header(["whsec_test"], 1_700_000_000, b'{"id":"evt_1"}') == f"t=1700000000,v1={expected}"


def test_the_scheme_is_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new("sécret".encode(), b"1764403200." + BODY, hashlib.sha256).hexdigest()
    assert compute_signature("sécret", NOW, BODY) == expected  # the secret as UTF-8


def test_round_trip() -> None:
    assert verify_signature(good(), BODY, [SECRET], now=NOW) == NOW
    assert verify_signature(good(body=b""), b"", [SECRET], now=NOW + 299.9) == NOW


def test_one_v1_per_secret_in_order() -> None:
    header = signature_header([OLD, NEW], NOW, BODY)
    assert header == (
        f"t={NOW},v1={compute_signature(OLD, NOW, BODY)},v1={compute_signature(NEW, NOW, BODY)}"
    )


def test_rotation_both_ways() -> None:
    both = signature_header([OLD, NEW], NOW, BODY)
    assert verify_signature(both, BODY, [NEW], now=NOW) == NOW
    assert verify_signature(both, BODY, [OLD], now=NOW) == NOW
    only_old = signature_header([OLD], NOW, BODY)
    assert verify_signature(only_old, BODY, [OLD, NEW], now=NOW) == NOW
    assert verify_signature(only_old, BODY, [NEW, OLD], now=NOW) == NOW
    with pytest.raises(SignatureError) as caught:
        verify_signature(only_old, BODY, [NEW], now=NOW)
    assert caught.value.reason is SignatureFailure.MISMATCH


def test_missing() -> None:
    assert failure(None) is SignatureFailure.MISSING
    assert failure("") is SignatureFailure.MISSING
    assert failure("  ") is SignatureFailure.MISSING


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        f"t={NOW}",  # no v1
        signature_of(good()),  # no t
        f"t={NOW},t={NOW}," + signature_of(good()),  # duplicate t
        "t=12ab," + signature_of(good()),  # non-digit t
        "t=-5," + signature_of(good()),
        "t= 1," + signature_of(good()),
        "t=," + signature_of(good()),
        "t=1234567890123," + signature_of(good()),  # 13 digits
        "t=١٢٣," + signature_of(good()),  # non-ASCII digits
        f"t={NOW},v1=abc",  # short hex
        f"t={NOW},v1=" + "a" * 63,  # odd length
        f"t={NOW},v1=" + "a" * 65,
        f"t={NOW},v1=" + "g" * 64,  # not hex
        f"t={NOW},v1=",
        good() + ",",  # empty pair
        good() + ",v1",  # pair without '='
        good() + ",v1=" + "0" * 64 * 40,  # longer than 2048 characters
        good() + ",v2=" + "x" * 2048,  # huge even if the extra key is unknown
        ",".join([f"t={NOW}"] + ["v1=" + "0" * 64] * 17),  # 17 signatures
    ],
)
def test_malformed(header: str) -> None:
    assert failure(header) is SignatureFailure.MALFORMED


def test_sixteen_signatures_are_allowed() -> None:
    header = ",".join([f"t={NOW}"] + ["v1=" + "0" * 64] * 15 + [signature_of(good())])
    assert verify_signature(header, BODY, [SECRET], now=NOW) == NOW


def test_timestamp_out_of_tolerance() -> None:
    assert failure(good(), now=NOW + 301) is SignatureFailure.TIMESTAMP_OUT_OF_TOLERANCE  # too old
    assert failure(good(), now=NOW - 301) is SignatureFailure.TIMESTAMP_OUT_OF_TOLERANCE  # from the future
    assert verify_signature(good(), BODY, [SECRET], now=NOW + 300) == NOW  # the edge is inside
    with pytest.raises(SignatureError) as caught:
        verify_signature(good(), BODY, [SECRET], now=NOW + 11, tolerance=10)
    assert caught.value.reason is SignatureFailure.TIMESTAMP_OUT_OF_TOLERANCE


def test_timestamp_is_checked_before_the_signature() -> None:
    stale_and_wrong = f"t={NOW - 3600},v1=" + "0" * 64
    assert failure(stale_and_wrong) is SignatureFailure.TIMESTAMP_OUT_OF_TOLERANCE


def test_mismatch() -> None:
    assert failure(good(), body=BODY + b" ") is SignatureFailure.MISMATCH  # tampered body
    assert failure(good().replace(f"t={NOW}", f"t={NOW + 1}")) is SignatureFailure.MISMATCH  # tampered time
    assert failure(good(secret="another-secret-xxxx")) is SignatureFailure.MISMATCH  # wrong secret
    assert failure(f"t={NOW},v1=" + "0" * 64) is SignatureFailure.MISMATCH


def test_messages_are_short_sentences() -> None:
    for reason in SignatureFailure:
        message = str(SignatureError(reason))
        assert message.endswith(".")
        assert len(message) < 120


def test_unknown_schemes_are_ignored_and_hex_case_does_not_matter() -> None:
    assert verify_signature(good() + ",v2=whatever", BODY, [SECRET], now=NOW) == NOW
    assert verify_signature("v0=x, " + good(), BODY, [SECRET], now=NOW) == NOW
    upper = f"t={NOW},v1={compute_signature(SECRET, NOW, BODY).upper()}"
    assert verify_signature(upper, BODY, [SECRET], now=NOW) == NOW


def test_programming_errors_are_not_caller_errors() -> None:
    with pytest.raises(ValueError, match="no secrets"):
        verify_signature(good(), BODY, [], now=NOW)
    with pytest.raises(ValueError, match="at least one secret"):
        signature_header([], NOW, BODY)
    assert not issubclass(SignatureError, ValueError)
