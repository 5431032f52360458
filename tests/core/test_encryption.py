"""app.core.encryption: AES-256-GCM bound to associated data, key ids for rotation, key settings,
and the configuration rules for ENCRYPTION_KEY."""

from __future__ import annotations

import base64
import os

import pytest

from app.core.config import ConfigError, load_settings
from app.core.encryption import (
    KEY_BYTES,
    OVERHEAD,
    DecryptionError,
    SecretBox,
    derive_key,
    encode_key,
    parse_keys,
)

DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/app"
PRODUCTION = {
    "ENVIRONMENT": "production",
    "DATABASE_URL": DATABASE_URL,
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "SECRET_KEY": "a-production-secret-key-0123456789abcdef",
    "METRICS_ENABLED": "false",
}


def _key() -> bytes:
    return os.urandom(KEY_BYTES)


def test_round_trip_with_the_same_associated_data() -> None:
    box = SecretBox([_key()])

    sealed = box.encrypt(b"JBSWY3DPEHPK3PXP", b"user:1")

    assert box.decrypt(sealed, b"user:1") == b"JBSWY3DPEHPK3PXP"
    assert b"JBSWY3DPEHPK3PXP" not in sealed
    assert len(sealed) == OVERHEAD + len(b"JBSWY3DPEHPK3PXP")


def test_empty_plaintext_round_trips() -> None:
    box = SecretBox([_key()])

    assert box.decrypt(box.encrypt(b"", b""), b"") == b""


def test_each_encryption_uses_a_fresh_nonce() -> None:
    box = SecretBox([_key()])

    assert box.encrypt(b"same", b"ad") != box.encrypt(b"same", b"ad")


def test_other_associated_data_fails() -> None:
    box = SecretBox([_key()])
    sealed = box.encrypt(b"secret", b"user:1")

    with pytest.raises(DecryptionError):
        box.decrypt(sealed, b"user:2")
    with pytest.raises(DecryptionError):
        box.decrypt(sealed, b"")


@pytest.mark.parametrize("position", [0, 1, 5, 10, 17, -1])
def test_any_changed_byte_fails(position: int) -> None:
    box = SecretBox([_key()])
    sealed = bytearray(box.encrypt(b"secret value", b"ad"))
    sealed[position] ^= 0x01

    with pytest.raises(DecryptionError):
        box.decrypt(bytes(sealed), b"ad")


@pytest.mark.parametrize("value", [b"", b"\x01", b"\x01" + b"\x00" * (OVERHEAD - 2), b"\x02" + b"\x00" * 64])
def test_short_or_foreign_values_fail(value: bytes) -> None:
    with pytest.raises(DecryptionError):
        SecretBox([_key()]).decrypt(value, b"")


def test_another_key_cannot_decrypt() -> None:
    sealed = SecretBox([_key()]).encrypt(b"secret", b"ad")

    with pytest.raises(DecryptionError):
        SecretBox([_key()]).decrypt(sealed, b"ad")


def test_rotation_new_key_encrypts_old_key_still_decrypts() -> None:
    old, new = _key(), _key()
    before = SecretBox([old]).encrypt(b"kept", b"ad")
    rotating = SecretBox([new, old])

    after = rotating.encrypt(b"fresh", b"ad")

    assert rotating.decrypt(before, b"ad") == b"kept"
    assert rotating.needs_reencryption(before)
    assert not rotating.needs_reencryption(after)
    assert SecretBox([new]).decrypt(after, b"ad") == b"fresh"
    with pytest.raises(DecryptionError):
        SecretBox([old]).decrypt(after, b"ad")


def test_keys_must_be_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        SecretBox([b"short"])
    with pytest.raises(ValueError, match="at least one"):
        SecretBox([])


def test_derived_keys_depend_on_secret_and_label() -> None:
    a = derive_key("a secret", label="one")

    assert len(a) == KEY_BYTES
    assert a == derive_key(b"a secret", label="one")
    assert a != derive_key("a secret", label="two")
    assert a != derive_key("another secret", label="one")


def test_from_setting_derives_a_subkey_per_label() -> None:
    setting = encode_key(_key())
    mfa = SecretBox.from_setting(setting, fallback_secret="unused", label="mfa")
    other = SecretBox.from_setting(setting, fallback_secret="unused", label="responses")
    sealed = mfa.encrypt(b"secret", b"ad")

    assert (
        SecretBox.from_setting(setting, fallback_secret="unused", label="mfa").decrypt(sealed, b"ad")
        == b"secret"
    )
    with pytest.raises(DecryptionError):
        other.decrypt(sealed, b"ad")


def test_from_setting_without_a_value_uses_the_fallback_secret() -> None:
    box = SecretBox.from_setting(None, fallback_secret="dev secret", label="mfa")
    sealed = box.encrypt(b"secret", b"ad")

    assert (
        SecretBox.from_setting("", fallback_secret="dev secret", label="mfa").decrypt(sealed, b"ad")
        == b"secret"
    )
    with pytest.raises(DecryptionError):
        SecretBox.from_setting(None, fallback_secret="other secret", label="mfa").decrypt(sealed, b"ad")


def test_parse_keys_accepts_padded_unpadded_and_several() -> None:
    first, second = _key(), _key()
    padded = base64.urlsafe_b64encode(first).decode()

    assert parse_keys(padded) == (first,)
    assert parse_keys(padded.rstrip("=")) == (first,)
    assert parse_keys(f" {encode_key(second)} , {padded} ") == (second, first)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no key"),
        (" , ", "no key"),
        ("not base64 !!", "base64"),
        (encode_key(b"x" * 16), "32 bytes"),
        (encode_key(b"x" * 33), "32 bytes"),
    ],
)
def test_parse_keys_refuses_bad_values(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_keys(text)


# ---- settings ----------------------------------------------------------------------------------


def test_production_refuses_a_missing_mfa_key() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(PRODUCTION)

    assert str(caught.value).startswith("ENCRYPTION_KEY: required in production")


def test_production_starts_with_an_mfa_key() -> None:
    key = encode_key(_key())

    settings = load_settings({**PRODUCTION, "ENCRYPTION_KEY": key})

    assert settings.encryption_key == key


@pytest.mark.parametrize("value", ["short", encode_key(b"k" * 31), "a,b"])
def test_a_malformed_mfa_key_stops_start_up(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"DATABASE_URL": DATABASE_URL, "ENCRYPTION_KEY": value})

    message = str(caught.value)
    assert message.startswith("ENCRYPTION_KEY: ")
    assert "\n" not in message


def test_development_derives_the_mfa_key_when_unset() -> None:
    settings = load_settings({"DATABASE_URL": DATABASE_URL})

    assert settings.encryption_key is None
    assert settings.mfa_issuer == "App"
    assert (settings.mfa_challenge_ttl_seconds, settings.mfa_challenge_max_attempts) == (300, 5)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MFA_ISSUER", "has:colon"),
        ("MFA_ISSUER", "x" * 65),
        ("MFA_CHALLENGE_TTL_SECONDS", "10"),
        ("MFA_CHALLENGE_MAX_ATTEMPTS", "0"),
    ],
)
def test_mfa_settings_are_bounded(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"DATABASE_URL": DATABASE_URL, variable: value})

    assert str(caught.value).startswith(f"{variable}:")
