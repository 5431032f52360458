"""Opaque tokens, argon2id password hashing and the pinned-algorithm access JWTs."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from typing import Any

import jwt
import pytest
from argon2 import PasswordHasher

from app.core.config import Settings, load_settings
from app.core.security import PasswordHashing, TokenCodec, constant_time_equals, hash_token, new_token

SECRET = "unit-secret-key-0123456789abcdef0123456789"
OTHER_SECRET = "another-secret-key-0123456789abcdef01234567"


def make_settings(**overrides: str) -> Settings:
    env = {
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",  # never connected to
        "ENVIRONMENT": "test",
        "SECRET_KEY": SECRET,
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "8192",
    }
    env.update({key.upper(): value for key, value in overrides.items()})
    return load_settings(env)


# ---- opaque tokens ----------------------------------------------------------------------------


def test_hash_token_is_a_deterministic_sha256_digest() -> None:
    digest = hash_token("some-token")
    assert isinstance(digest, bytes)
    assert len(digest) == 32
    assert digest == hash_token("some-token")
    assert digest == hashlib.sha256(b"some-token").digest()
    assert digest != hash_token("some-tokeN")


def test_new_tokens_are_unique_url_safe_and_long() -> None:
    tokens = {new_token() for _ in range(2000)}
    assert len(tokens) == 2000
    for token in list(tokens)[:50]:
        assert len(token) >= 43  # 32 random bytes
        assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert len(new_token(16)) < len(new_token())


def test_constant_time_equals() -> None:
    assert constant_time_equals("abc", "abc")
    assert constant_time_equals(b"abc", "abc")
    assert not constant_time_equals("abc", "abd")
    assert not constant_time_equals("abc", "abcd")


# ---- passwords --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def passwords() -> PasswordHashing:
    return PasswordHashing(make_settings())


async def test_hash_is_argon2id_and_salted(passwords: PasswordHashing) -> None:
    first = await passwords.hash("correct horse")
    second = await passwords.hash("correct horse")
    assert first.startswith("$argon2id$")
    assert "correct horse" not in first
    assert first != second


async def test_verify_right_and_wrong_password(passwords: PasswordHashing) -> None:
    stored = await passwords.hash("correct horse")
    assert await passwords.verify(stored, "correct horse") is True
    assert await passwords.verify(stored, "correct horsE") is False
    assert await passwords.verify(stored, "") is False


@pytest.mark.parametrize("password", ["correct horse", "", "x" * 100])
async def test_verify_without_a_hash_is_false(passwords: PasswordHashing, password: str) -> None:
    assert await passwords.verify(None, password) is False


@pytest.mark.parametrize("stored", ["", "not-a-hash", "$argon2id$v=19$m=8192,t=1,p=1$broken"])
async def test_verify_against_a_malformed_hash_is_false(passwords: PasswordHashing, stored: str) -> None:
    assert await passwords.verify(stored, "correct horse") is False


async def test_needs_rehash_when_the_parameters_change(passwords: PasswordHashing) -> None:
    stored = await passwords.hash("correct horse")
    assert passwords.needs_rehash(stored) is False
    stronger = PasswordHashing(make_settings(argon2_time_cost="2"))
    assert stronger.needs_rehash(stored) is True
    assert await stronger.verify(stored, "correct horse") is True


async def test_hashing_runs_off_the_loop_on_a_bounded_set_of_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    hashing = PasswordHashing(make_settings(password_hash_concurrency="2"))
    lock = threading.Lock()
    running = 0
    peak = 0
    threads: set[int] = set()
    names: set[str] = set()

    def slow_hash(self: PasswordHasher, password: str | bytes, *, salt: bytes | None = None) -> str:
        nonlocal running, peak
        threads.add(threading.get_ident())
        names.add(threading.current_thread().name)
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.03)
        with lock:
            running -= 1
        return f"hashed:{password!s}"

    monkeypatch.setattr(PasswordHasher, "hash", slow_hash)
    results = await asyncio.gather(*(hashing.hash(f"pw{i}") for i in range(8)))
    assert results == [f"hashed:pw{i}" for i in range(8)]
    assert peak == 2
    assert threading.get_ident() not in threads
    # Its own threads, no more than the limit: each may keep a freed argon2 block resident, so
    # their number bounds the memory hashing holds (PasswordHashing's docstring).
    assert len(threads) == 2
    assert all(name.startswith("argon2") for name in names), names


# ---- access tokens ----------------------------------------------------------------------------

USER = uuid.UUID("0190a2b3-c4d5-7e6f-8a9b-0c1d2e3f4a5b")
SESSION = uuid.UUID("0190a2b3-c4d5-7e6f-8a9b-0c1d2e3f4a5c")


@pytest.fixture(scope="module")
def codec() -> TokenCodec:
    return TokenCodec(make_settings())


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": str(USER),
        "sid": str(SESSION),
        "iat": now,
        "exp": now + 900,
        "iss": "app",
        "aud": "app-api",
    }
    payload.update(overrides)
    return {key: value for key, value in payload.items() if value is not None}


def forge(
    header: dict[str, Any], payload: dict[str, Any], key: str = SECRET, digest: Any = hashlib.sha256
) -> str:
    """A JWT with any header, HMAC-signed with `key` (or unsigned for alg none)."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    if header.get("alg") == "none":
        return signing_input + "."
    signature = hmac.new(key.encode(), signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64url(signature)}"


def test_issue_verify_round_trip(codec: TokenCodec) -> None:
    token = codec.issue(user_id=USER, session_id=SESSION)
    verified = codec.verify(token)
    assert verified is not None
    assert verified.sub == USER
    assert verified.sid == SESSION
    assert verified.exp - verified.iat == codec.ttl_seconds == 900
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"


def test_forged_hs256_with_our_key_verifies(codec: TokenCodec) -> None:
    """The forging helper itself is right: the rejections below are about what they change."""
    assert codec.verify(forge({"alg": "HS256", "typ": "JWT"}, claims())) is not None


def test_expired_token_is_refused(codec: TokenCodec, monkeypatch: pytest.MonkeyPatch) -> None:
    real_time = time.time
    with monkeypatch.context() as patch:
        patch.setattr(time, "time", lambda: real_time() - codec.ttl_seconds - 5)
        token = codec.issue(user_id=USER, session_id=SESSION)
    assert codec.verify(token) is None


def test_token_from_the_future_is_refused(codec: TokenCodec) -> None:
    now = int(time.time())
    assert codec.verify(forge({"alg": "HS256"}, claims(iat=now + 3600, exp=now + 4500))) is None


def test_token_signed_with_another_key_is_refused(codec: TokenCodec) -> None:
    other = TokenCodec(make_settings(secret_key=OTHER_SECRET))
    assert codec.verify(other.issue(user_id=USER, session_id=SESSION)) is None


@pytest.mark.parametrize(
    "overrides", [{"jwt_audience": "another-api"}, {"jwt_issuer": "someone-else"}], ids=["audience", "issuer"]
)
def test_token_for_another_audience_or_from_another_issuer_is_refused(
    codec: TokenCodec, overrides: dict[str, str]
) -> None:
    other = TokenCodec(make_settings(**overrides))
    assert codec.verify(other.issue(user_id=USER, session_id=SESSION)) is None


@pytest.mark.parametrize("missing", ["exp", "iat", "sub", "sid", "iss", "aud"])
def test_token_missing_a_required_claim_is_refused(codec: TokenCodec, missing: str) -> None:
    assert codec.verify(forge({"alg": "HS256"}, claims(**{missing: None}))) is None


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_unsigned_alg_none_token_is_refused(codec: TokenCodec, alg: str) -> None:
    assert codec.verify(forge({"alg": alg, "typ": "JWT"}, claims())) is None


def test_hs512_token_with_our_key_is_refused(codec: TokenCodec) -> None:
    assert codec.verify(forge({"alg": "HS512"}, claims(), digest=hashlib.sha512)) is None


@pytest.mark.parametrize("alg", ["RS256", "ES256", "PS256"])
def test_asymmetric_header_is_refused(codec: TokenCodec, alg: str) -> None:
    """Algorithm confusion: an RS/ES-style header over an HMAC made with our secret."""
    assert codec.verify(forge({"alg": alg, "typ": "JWT"}, claims())) is None


def test_tampered_payload_is_refused(codec: TokenCodec) -> None:
    token = codec.issue(user_id=USER, session_id=SESSION)
    header, _, signature = token.split(".")
    other_user = claims(sub=str(uuid.UUID(int=1)))
    tampered = f"{header}.{b64url(json.dumps(other_user).encode())}.{signature}"
    assert codec.verify(tampered) is None
    assert codec.verify(token[:-2] + ("AA" if token[-2:] != "AA" else "BB")) is None


@pytest.mark.parametrize("sub", ["not-a-uuid", "", "12345"])
def test_token_with_a_malformed_subject_is_refused(codec: TokenCodec, sub: str) -> None:
    assert codec.verify(forge({"alg": "HS256"}, claims(sub=sub))) is None


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "a.b", "....", "Bearer x.y.z"])
def test_garbage_is_refused(codec: TokenCodec, token: str) -> None:
    assert codec.verify(token) is None
