"""Authenticated encryption of small secrets at rest (AES-256-GCM), with key rotation.

`SecretBox` encrypts bytes to bytes. Every ciphertext is bound to *associated data* chosen by
the caller (for example the id of the row's owner): the same ciphertext copied to another row,
or decrypted for another purpose, fails authentication instead of yielding the plaintext.

Stored layout (all binary)::

    version (1 byte, 0x01) | key id (4 bytes) | nonce (12 bytes) | ciphertext + GCM tag (16 bytes)

The key id is the first 4 bytes of SHA-256 over the key, so a box built from several keys finds
the one that encrypted a value without any numbering to keep in sync; the first key encrypts,
all of them decrypt (rotation: put the new key first, re-encrypt or let old values age out,
then drop the old key). The header is authenticated as part of the associated data.

This module depends on nothing else in the app: `app.core.config` uses `parse_keys` to validate
key settings, and features build their box with `SecretBox.from_setting(value, label=...)`,
which derives one subkey per purpose (label) from the configured master key(s).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["KEY_BYTES", "DecryptionError", "SecretBox", "derive_key", "encode_key", "parse_keys", "subkeys"]

KEY_BYTES = 32
FORMAT_VERSION = 1
_VERSION = FORMAT_VERSION.to_bytes(1, "big")
_KEY_ID_BYTES = 4
_NONCE_BYTES = 12
_TAG_BYTES = 16
_HEADER_BYTES = 1 + _KEY_ID_BYTES
OVERHEAD = _HEADER_BYTES + _NONCE_BYTES + _TAG_BYTES


class DecryptionError(Exception):
    """The value is not a ciphertext of this box, under these associated data, with a known key."""


def derive_key(secret: str | bytes, *, label: str) -> bytes:
    """A 32-byte key derived from `secret` with HKDF-SHA256; distinct labels give unrelated keys."""
    material = secret.encode() if isinstance(secret, str) else secret
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=label.encode())
    return hkdf.derive(material)


def encode_key(key: bytes) -> str:
    """The text form of a key, as settings take it: URL-safe base64 (padding optional)."""
    return base64.urlsafe_b64encode(key).decode()


def parse_keys(text: str) -> tuple[bytes, ...]:
    """Keys from a setting: one URL-safe base64 key of 32 bytes, or several comma-separated
    (the first encrypts). Raises ValueError with a message fit for a configuration error."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise ValueError("no key given")
    keys: list[bytes] = []
    for part in parts:
        try:
            key = base64.b64decode(part + "=" * (-len(part) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("each key must be URL-safe base64") from None
        if len(key) != KEY_BYTES:
            raise ValueError(f"each key must decode to {KEY_BYTES} bytes, got {len(key)}")
        keys.append(key)
    return tuple(keys)


def subkeys(value: str | None, *, fallback_secret: str, label: str) -> list[bytes]:
    """The keys of one purpose (`label`) derived from a key setting's master keys (the first is
    the current one); unset, from `fallback_secret` (development and tests)."""
    masters: tuple[str | bytes, ...] = parse_keys(value) if value else (fallback_secret,)
    return [derive_key(master, label=label) for master in masters]


def _key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:_KEY_ID_BYTES]


class SecretBox:
    """AES-256-GCM with random nonces; the first key encrypts, every key decrypts."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("SecretBox needs at least one key")
        if any(len(key) != KEY_BYTES for key in keys):
            raise ValueError(f"SecretBox keys are {KEY_BYTES} bytes")
        self._ciphers = {_key_id(key): AESGCM(key) for key in keys}
        self._current = _key_id(keys[0])

    @classmethod
    def from_setting(cls, value: str | None, *, fallback_secret: str, label: str) -> SecretBox:
        """The box of one purpose (`label`) for a key setting (see `parse_keys`).

        The setting's keys are master keys: the box uses subkeys derived from them under
        `label`, so purposes sharing a setting never share an encryption key. Unset, the one
        master key is `fallback_secret` (development and tests; production requires the setting).
        """
        return cls(subkeys(value, fallback_secret=fallback_secret, label=label))

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> bytes:
        """Encrypt `plaintext`; decrypting it will require the same `associated_data`."""
        header = _VERSION + self._current
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._ciphers[self._current].encrypt(nonce, plaintext, header + associated_data)
        return header + nonce + sealed

    def decrypt(self, ciphertext: bytes, associated_data: bytes) -> bytes:
        """The plaintext of `ciphertext`, or DecryptionError (tampered, other data, unknown key)."""
        if len(ciphertext) < OVERHEAD or ciphertext[:1] != _VERSION:
            raise DecryptionError("not a ciphertext of this format")
        header = ciphertext[:_HEADER_BYTES]
        cipher = self._ciphers.get(header[1:])
        if cipher is None:
            raise DecryptionError("encrypted with a key this box does not hold")
        nonce = ciphertext[_HEADER_BYTES : _HEADER_BYTES + _NONCE_BYTES]
        try:
            return cipher.decrypt(nonce, ciphertext[_HEADER_BYTES + _NONCE_BYTES :], header + associated_data)
        except InvalidTag:
            raise DecryptionError("authentication failed") from None

    def needs_reencryption(self, ciphertext: bytes) -> bool:
        """Whether `ciphertext` was made with a key other than the current one (after rotation)."""
        return ciphertext[1:_HEADER_BYTES] != self._current
