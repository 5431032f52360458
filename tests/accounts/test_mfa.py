"""Two-factor authentication: setting it up, signing in with a TOTP or backup code, the
challenge's single use, expiry and attempt cap, replay protection, new backup codes, turning it
off, isolation between users, and the secret's encryption at rest."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from uuid import UUID, uuid4

import asyncpg
import msgspec
import pytest

from app.accounts.mfa import SecondFactor
from app.core.config import Settings
from app.core.encryption import DecryptionError
from tests.accounts.mfa_helpers import (
    answer,
    code_for,
    enable_mfa,
    forget_used_step,
    password_login,
    start_challenge,
    wrong_code,
)
from tests.factories import (
    Client,
    bearer,
    expect_data,
    expect_no_content,
    expect_problem,
    signed_in_user,
    token_digest,
)

TOKEN_PAIR_FIELDS = {"access_token", "refresh_token", "token_type", "expires_in"}
CHALLENGE_FIELDS = {"mfa_required", "challenge_token", "expires_in", "methods"}


async def _mfa_rows(db: asyncpg.Pool[Any], user_id: str) -> dict[str, int]:
    row = await db.fetchrow(
        "SELECT (SELECT count(*) FROM user_mfa WHERE user_id = $1) AS secrets,"
        " (SELECT count(*) FROM mfa_backup_codes WHERE user_id = $1) AS codes,"
        " (SELECT count(*) FROM mfa_challenges WHERE user_id = $1) AS challenges",
        UUID(user_id),
    )
    assert row is not None
    return dict(row)


# ---- setting it up ---------------------------------------------------------------------------


async def test_enable_returns_a_pending_secret_and_an_otpauth_uri(client: Client) -> None:
    user = await signed_in_user(client)

    response = await client.post("/auth/mfa/enable", json={"password": user.password}, headers=user.headers)

    setup = expect_data(response)
    assert set(setup) == {"secret", "otpauth_uri", "issuer", "account"}
    assert response.headers["cache-control"] == "no-store"
    assert len(base64.b32decode(setup["secret"])) >= 20  # at least 160 bits
    uri = urlsplit(setup["otpauth_uri"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert unquote(uri.path) == f"/App:{user.email}"
    assert parse_qs(uri.query) == {"secret": [setup["secret"]], "issuer": ["App"]}
    assert (setup["issuer"], setup["account"]) == ("App", user.email)
    # Pending: the password alone still signs in.
    assert set(expect_data(await password_login(client, user))) == TOKEN_PAIR_FIELDS


async def test_enable_asks_for_the_password_again(client: Client, db: asyncpg.Pool[Any]) -> None:
    """A stolen access token alone cannot put the account under someone else's authenticator."""
    user = await signed_in_user(client)
    wrong = await client.post("/auth/mfa/enable", json={"password": "not-the-password"}, headers=user.headers)
    expect_problem(wrong, 422, "INVALID_CREDENTIALS", path="$.password")
    missing = await client.post("/auth/mfa/enable", json={}, headers=user.headers)
    assert missing.status_code == 422
    assert await db.fetchval("SELECT count(*) FROM user_mfa WHERE user_id = $1", UUID(user.id)) == 0


async def test_enable_again_replaces_the_pending_secret(client: Client) -> None:
    user = await signed_in_user(client)
    first = expect_data(
        await client.post("/auth/mfa/enable", json={"password": user.password}, headers=user.headers)
    )["secret"]
    second = expect_data(
        await client.post("/auth/mfa/enable", json={"password": user.password}, headers=user.headers)
    )["secret"]

    stale = await client.post("/auth/mfa/confirm", json={"code": code_for(first)}, headers=user.headers)
    fresh = await client.post("/auth/mfa/confirm", json={"code": code_for(second)}, headers=user.headers)

    assert first != second
    expect_problem(stale, 422, "INVALID_MFA_CODE", path="$.code")
    assert len(expect_data(fresh)["backup_codes"]) == 10


async def test_confirm_turns_mfa_on_and_returns_ten_backup_codes_stored_hashed(
    client: Client, db: asyncpg.Pool[Any]
) -> None:
    user = await signed_in_user(client)
    setup = expect_data(
        await client.post("/auth/mfa/enable", json={"password": user.password}, headers=user.headers)
    )

    response = await client.post(
        "/auth/mfa/confirm", json={"code": code_for(setup["secret"])}, headers=user.headers
    )

    codes = expect_data(response)["backup_codes"]
    assert response.headers["cache-control"] == "no-store"
    assert len(set(codes)) == 10
    assert all(len(code) == 11 and code[5] == "-" for code in codes)
    stored = {
        bytes(row["code_hash"])
        for row in await db.fetch("SELECT code_hash FROM mfa_backup_codes WHERE user_id = $1", UUID(user.id))
    }
    # Keyed digests bound to the user: neither the codes nor their bare SHA-256 are stored.
    factor: SecondFactor = client.app.state["accounts"]._factor  # pyright: ignore[reportPrivateUsage]
    user_id = UUID(user.id)
    assert stored == {factor.backup_code_digests(user_id, code.replace("-", ""))[0] for code in codes}
    assert not stored & {token_digest(code.replace("-", "")) for code in codes}
    other_user = factor.backup_code_digests(uuid4(), codes[0].replace("-", ""))[0]
    assert other_user not in stored
    assert await db.fetchval(
        "SELECT confirmed_at IS NOT NULL FROM user_mfa WHERE user_id = $1", UUID(user.id)
    )
    assert expect_data(await password_login(client, user))["mfa_required"] is True


async def test_confirm_refuses_a_wrong_code(client: Client) -> None:
    user = await signed_in_user(client)
    setup = expect_data(
        await client.post("/auth/mfa/enable", json={"password": user.password}, headers=user.headers)
    )

    response = await client.post(
        "/auth/mfa/confirm", json={"code": wrong_code(setup["secret"])}, headers=user.headers
    )

    expect_problem(response, 422, "INVALID_MFA_CODE", path="$.code")
    assert set(expect_data(await password_login(client, user))) == TOKEN_PAIR_FIELDS


async def test_confirm_without_setup_and_enable_or_confirm_when_on_are_conflicts(client: Client) -> None:
    user = await signed_in_user(client)

    not_started = await client.post("/auth/mfa/confirm", json={"code": "123456"}, headers=user.headers)
    mfa = await enable_mfa(client, user)
    enable_again = await client.post(
        "/auth/mfa/enable", json={"password": user.password}, headers=user.headers
    )
    confirm_again = await client.post(
        "/auth/mfa/confirm", json={"code": code_for(mfa.secret, steps_ahead=1)}, headers=user.headers
    )

    expect_problem(not_started, 409, "MFA_NOT_ENABLED")
    expect_problem(enable_again, 409, "MFA_ALREADY_ENABLED")
    expect_problem(confirm_again, 409, "MFA_ALREADY_ENABLED")


@pytest.mark.parametrize("code", ["12345", "1234567890123456789012345", "12345\x00", "abc!def"])
async def test_codes_are_validated(client: Client, code: str) -> None:
    user = await signed_in_user(client)

    response = await client.post("/auth/mfa/confirm", json={"code": code}, headers=user.headers)

    expect_problem(response, 422, "VALIDATION_ERROR", path="$.code")


# ---- signing in --------------------------------------------------------------------------------


async def test_login_with_mfa_on_returns_a_challenge_and_no_session(
    client: Client, db: asyncpg.Pool[Any]
) -> None:
    mfa = await enable_mfa(client, await signed_in_user(client))
    sessions_before = await db.fetchval(
        "SELECT count(*) FROM auth_sessions WHERE user_id = $1", UUID(mfa.user.id)
    )

    data = expect_data(await password_login(client, mfa.user))

    assert set(data) == CHALLENGE_FIELDS
    assert data["mfa_required"] is True
    assert data["expires_in"] == 300
    assert data["methods"] == ["totp", "backup_code"]
    assert await db.fetchval("SELECT count(*) FROM auth_sessions WHERE user_id = $1", UUID(mfa.user.id)) == (
        sessions_before
    )
    stored = await db.fetchrow(
        "SELECT user_id, attempts, max_attempts, expires_at - created_at AS ttl FROM mfa_challenges"
        " WHERE token_hash = $1",
        token_digest(data["challenge_token"]),
    )
    assert stored is not None
    assert str(stored["user_id"]) == mfa.user.id
    assert (stored["attempts"], stored["max_attempts"]) == (0, 5)
    assert 299 <= stored["ttl"].total_seconds() <= 301


async def test_wrong_password_with_mfa_on_is_the_usual_401(client: Client) -> None:
    mfa = await enable_mfa(client, await signed_in_user(client))

    response = await client.post("/auth/login", json={"login": mfa.user.email, "password": "wrong password"})

    expect_problem(response, 401, "INVALID_CREDENTIALS")


async def test_challenge_with_a_totp_code_returns_a_working_token_pair(
    client: Client, db: asyncpg.Pool[Any]
) -> None:
    mfa = await enable_mfa(client, await signed_in_user(client))
    challenge = await start_challenge(client, mfa.user)

    response = await answer(client, challenge, code_for(mfa.secret, steps_ahead=1))

    tokens = expect_data(response)
    assert set(tokens) == TOKEN_PAIR_FIELDS
    me = expect_data(await client.get("/users/me", headers=bearer(tokens["access_token"])))
    assert me["id"] == mfa.user.id
    used = await db.fetchval(
        "SELECT used_at IS NOT NULL FROM mfa_challenges WHERE token_hash = $1", token_digest(challenge)
    )
    assert used is True


async def test_a_challenge_token_works_once(client: Client, db: asyncpg.Pool[Any]) -> None:
    mfa = await enable_mfa(client, await signed_in_user(client))
    challenge = await start_challenge(client, mfa.user)
    expect_data(await answer(client, challenge, mfa.backup_codes[0]))
    await forget_used_step(db, mfa.user.id)

    again = await answer(client, challenge, code_for(mfa.secret))

    expect_problem(again, 401, "INVALID_TOKEN")


async def test_an_unknown_challenge_token_is_refused(client: Client) -> None:
    response = await answer(client, "not-a-real-challenge-token", "123456")

    expect_problem(response, 401, "INVALID_TOKEN")


async def test_a_replayed_totp_code_is_refused(client: Client) -> None:
    mfa = await enable_mfa(client, await signed_in_user(client))
    code = code_for(mfa.secret, steps_ahead=1)
    expect_data(await answer(client, await start_challenge(client, mfa.user), code))

    replayed = await answer(client, await start_challenge(client, mfa.user), code)

    expect_problem(replayed, 401, "INVALID_MFA_CODE")


async def test_the_code_used_to_confirm_cannot_sign_in(client: Client) -> None:
    user = await signed_in_user(client)
    setup = expect_data(
        await client.post("/auth/mfa/enable", json={"password": user.password}, headers=user.headers)
    )
    code = code_for(setup["secret"])
    expect_data(await client.post("/auth/mfa/confirm", json={"code": code}, headers=user.headers))

    response = await answer(client, await start_challenge(client, user), code)

    expect_problem(response, 401, "INVALID_MFA_CODE")


async def test_a_backup_code_works_once_in_any_letter_case_and_spacing(
    client: Client, db: asyncpg.Pool[Any]
) -> None:
    mfa = await enable_mfa(client, await signed_in_user(client))
    code = mfa.backup_codes[3]
    typed = " ".join(code.replace("-", "").upper())  # "A B C D E ..."

    first = await answer(client, await start_challenge(client, mfa.user), typed)
    second = await answer(client, await start_challenge(client, mfa.user), code)

    assert set(expect_data(first)) == TOKEN_PAIR_FIELDS
    expect_problem(second, 401, "INVALID_MFA_CODE")
    used = await db.fetchval(
        "SELECT count(*) FROM mfa_backup_codes WHERE user_id = $1 AND used_at IS NOT NULL", UUID(mfa.user.id)
    )
    assert used == 1


async def test_a_challenge_is_spent_after_five_wrong_codes(client: Client) -> None:
    mfa = await enable_mfa(client, await signed_in_user(client))
    challenge = await start_challenge(client, mfa.user)

    wrong = [await answer(client, challenge, wrong_code(mfa.secret)) for _ in range(5)]
    right = await answer(client, challenge, code_for(mfa.secret, steps_ahead=1))

    for number, response in enumerate(wrong, start=1):
        body = expect_problem(response, 401, "INVALID_MFA_CODE")
        assert (
            (f"{5 - number} more attempt" in body["detail"])
            if number < 5
            else "Sign in again" in body["detail"]
        )
    expect_problem(right, 401, "INVALID_TOKEN")
    # A new password sign-in opens a new challenge.
    fresh = await answer(client, await start_challenge(client, mfa.user), code_for(mfa.secret, steps_ahead=1))
    assert set(expect_data(fresh)) == TOKEN_PAIR_FIELDS


async def test_the_fifth_try_may_still_be_right(client: Client) -> None:
    mfa = await enable_mfa(client, await signed_in_user(client))
    challenge = await start_challenge(client, mfa.user)
    for _ in range(4):
        expect_problem(await answer(client, challenge, wrong_code(mfa.secret)), 401, "INVALID_MFA_CODE")

    response = await answer(client, challenge, mfa.backup_codes[0])

    assert set(expect_data(response)) == TOKEN_PAIR_FIELDS


async def test_an_expired_challenge_is_refused(client: Client, db: asyncpg.Pool[Any]) -> None:
    mfa = await enable_mfa(client, await signed_in_user(client))
    challenge = await start_challenge(client, mfa.user)
    await db.execute(
        "UPDATE mfa_challenges SET created_at = now() - interval '10 minutes',"
        " expires_at = now() - interval '1 second' WHERE token_hash = $1",
        token_digest(challenge),
    )

    response = await answer(client, challenge, code_for(mfa.secret, steps_ahead=1))

    expect_problem(response, 401, "INVALID_TOKEN")


async def test_a_password_change_ends_open_challenges(client: Client) -> None:
    mfa = await enable_mfa(client, await signed_in_user(client))
    challenge = await start_challenge(client, mfa.user)

    changed = await client.post(
        "/auth/password/change",
        json={"current_password": mfa.user.password, "new_password": "another long password 42"},
        headers=mfa.user.headers,
    )
    response = await answer(client, challenge, code_for(mfa.secret, steps_ahead=1))

    expect_no_content(changed)
    expect_problem(response, 401, "INVALID_TOKEN")


async def test_a_deactivated_account_cannot_finish_a_challenge(client: Client, db: asyncpg.Pool[Any]) -> None:
    mfa = await enable_mfa(client, await signed_in_user(client))
    challenge = await start_challenge(client, mfa.user)
    await db.execute("UPDATE users SET is_active = false WHERE id = $1", UUID(mfa.user.id))

    response = await answer(client, challenge, code_for(mfa.secret, steps_ahead=1))

    expect_problem(response, 401, "INVALID_TOKEN")


# ---- new backup codes ------------------------------------------------------------------------


async def test_regenerating_backup_codes_needs_a_totp_code_and_retires_the_old_ones(
    client: Client, db: asyncpg.Pool[Any]
) -> None:
    mfa = await enable_mfa(client, await signed_in_user(client))

    wrong = await client.post(
        "/auth/mfa/backup-codes", json={"code": wrong_code(mfa.secret)}, headers=mfa.user.headers
    )
    response = await client.post(
        "/auth/mfa/backup-codes", json={"code": code_for(mfa.secret, steps_ahead=1)}, headers=mfa.user.headers
    )

    expect_problem(wrong, 422, "INVALID_MFA_CODE", path="$.code")
    new_codes = expect_data(response)["backup_codes"]
    assert response.headers["cache-control"] == "no-store"
    assert len(new_codes) == 10
    assert not set(new_codes) & set(mfa.backup_codes)
    old = await answer(client, await start_challenge(client, mfa.user), mfa.backup_codes[0])
    expect_problem(old, 401, "INVALID_MFA_CODE")
    new = await answer(client, await start_challenge(client, mfa.user), new_codes[0])
    assert set(expect_data(new)) == TOKEN_PAIR_FIELDS
    assert (
        await db.fetchval("SELECT count(*) FROM mfa_backup_codes WHERE user_id = $1", UUID(mfa.user.id)) == 10
    )


async def test_regenerating_backup_codes_refuses_a_backup_code_and_a_replayed_code(client: Client) -> None:
    mfa = await enable_mfa(client, await signed_in_user(client))
    code = code_for(mfa.secret, steps_ahead=1)
    expect_data(await client.post("/auth/mfa/backup-codes", json={"code": code}, headers=mfa.user.headers))

    replayed = await client.post("/auth/mfa/backup-codes", json={"code": code}, headers=mfa.user.headers)
    backup = await client.post(
        "/auth/mfa/backup-codes", json={"code": mfa.backup_codes[0]}, headers=mfa.user.headers
    )

    expect_problem(replayed, 422, "INVALID_MFA_CODE")
    expect_problem(backup, 422, "VALIDATION_ERROR", path="$.code")


async def test_backup_codes_and_disable_need_mfa_on(client: Client) -> None:
    user = await signed_in_user(client)

    codes = await client.post("/auth/mfa/backup-codes", json={"code": "123456"}, headers=user.headers)
    disable = await client.post(
        "/auth/mfa/disable", json={"password": user.password, "code": "123456"}, headers=user.headers
    )

    expect_problem(codes, 409, "MFA_NOT_ENABLED")
    expect_problem(disable, 409, "MFA_NOT_ENABLED")


# ---- turning it off --------------------------------------------------------------------------


async def test_disable_needs_the_password_and_a_code(client: Client, db: asyncpg.Pool[Any]) -> None:
    mfa = await enable_mfa(client, await signed_in_user(client))
    await start_challenge(client, mfa.user)  # an open challenge, removed with the rest

    bad_password = await client.post(
        "/auth/mfa/disable",
        json={"password": "not the password", "code": code_for(mfa.secret, steps_ahead=1)},
        headers=mfa.user.headers,
    )
    bad_code = await client.post(
        "/auth/mfa/disable",
        json={"password": mfa.user.password, "code": wrong_code(mfa.secret)},
        headers=mfa.user.headers,
    )
    used_backup_code = mfa.backup_codes[0]
    expect_data(await answer(client, await start_challenge(client, mfa.user), used_backup_code))
    spent_code = await client.post(
        "/auth/mfa/disable",
        json={"password": mfa.user.password, "code": used_backup_code},
        headers=mfa.user.headers,
    )
    disabled = await client.post(
        "/auth/mfa/disable",
        json={"password": mfa.user.password, "code": code_for(mfa.secret, steps_ahead=1)},
        headers=mfa.user.headers,
    )

    expect_problem(bad_password, 422, "INVALID_CREDENTIALS", path="$.password")
    expect_problem(bad_code, 422, "INVALID_MFA_CODE", path="$.code")
    expect_problem(spent_code, 422, "INVALID_MFA_CODE", path="$.code")
    expect_no_content(disabled)
    assert await _mfa_rows(db, mfa.user.id) == {"secrets": 0, "codes": 0, "challenges": 0}
    assert set(expect_data(await password_login(client, mfa.user))) == TOKEN_PAIR_FIELDS


async def test_disable_with_a_backup_code(client: Client, db: asyncpg.Pool[Any]) -> None:
    mfa = await enable_mfa(client, await signed_in_user(client))

    response = await client.post(
        "/auth/mfa/disable",
        json={"password": mfa.user.password, "code": mfa.backup_codes[9]},
        headers=mfa.user.headers,
    )

    expect_no_content(response)
    assert await _mfa_rows(db, mfa.user.id) == {"secrets": 0, "codes": 0, "challenges": 0}


async def test_mfa_can_be_set_up_again_after_disabling(client: Client) -> None:
    mfa = await enable_mfa(client, await signed_in_user(client))
    expect_no_content(
        await client.post(
            "/auth/mfa/disable",
            json={"password": mfa.user.password, "code": mfa.backup_codes[0]},
            headers=mfa.user.headers,
        )
    )

    again = await enable_mfa(client, mfa.user)

    assert again.secret != mfa.secret
    expect_problem(
        await answer(client, await start_challenge(client, mfa.user), mfa.backup_codes[1]),
        401,
        "INVALID_MFA_CODE",
    )


# ---- isolation -------------------------------------------------------------------------------


async def test_one_users_codes_do_nothing_for_another(client: Client, db: asyncpg.Pool[Any]) -> None:
    alice = await enable_mfa(client, await signed_in_user(client))
    bob = await enable_mfa(client, await signed_in_user(client))
    bobs_challenge = await start_challenge(client, bob.user)

    with_alices_totp = await answer(client, bobs_challenge, code_for(alice.secret, steps_ahead=1))
    with_alices_backup = await answer(client, bobs_challenge, alice.backup_codes[0])
    bob_disables_with_alices_code = await client.post(
        "/auth/mfa/disable",
        json={"password": bob.user.password, "code": alice.backup_codes[1]},
        headers=bob.user.headers,
    )
    bob_regenerates = await client.post(
        "/auth/mfa/backup-codes", json={"code": code_for(bob.secret, steps_ahead=1)}, headers=bob.user.headers
    )

    expect_problem(with_alices_totp, 401, "INVALID_MFA_CODE")
    expect_problem(with_alices_backup, 401, "INVALID_MFA_CODE")
    expect_problem(bob_disables_with_alices_code, 422, "INVALID_MFA_CODE")
    expect_data(bob_regenerates)
    # Alice is untouched: both her backup codes still work, her secret is hers.
    for code in alice.backup_codes[:2]:
        assert set(expect_data(await answer(client, await start_challenge(client, alice.user), code))) == (
            TOKEN_PAIR_FIELDS
        )
    assert await _mfa_rows(db, alice.user.id) == {"secrets": 1, "codes": 10, "challenges": 1}


# ---- encryption at rest ------------------------------------------------------------------------


async def test_the_secret_is_stored_encrypted_and_bound_to_its_user(
    client: Client, db: asyncpg.Pool[Any], settings: Settings
) -> None:
    mfa = await enable_mfa(client, await signed_in_user(client))
    other = await signed_in_user(client)

    ciphertext = bytes(
        await db.fetchval("SELECT secret_ciphertext FROM user_mfa WHERE user_id = $1", UUID(mfa.user.id))
    )

    raw_secret = base64.b32decode(mfa.secret)
    for form in (mfa.secret.encode(), mfa.secret.lower().encode(), raw_secret):
        assert form not in ciphertext
    factor = SecondFactor(settings)
    assert factor.decrypt_secret(UUID(mfa.user.id), ciphertext) == mfa.secret
    with pytest.raises(DecryptionError):
        factor.decrypt_secret(UUID(other.id), ciphertext)
    # Another key (say, another deployment's) cannot read it either.
    foreign = SecondFactor(msgspec.structs.replace(settings, secret_key="another-secret-key-" + "x" * 32))
    with pytest.raises(DecryptionError):
        foreign.decrypt_secret(UUID(mfa.user.id), ciphertext)


async def test_the_database_refuses_inconsistent_rows(client: Client, db: asyncpg.Pool[Any]) -> None:
    user = await signed_in_user(client)
    expect_data(await client.post("/auth/mfa/enable", json={"password": user.password}, headers=user.headers))

    with pytest.raises(asyncpg.CheckViolationError):  # a used step on an unconfirmed secret
        await db.execute("UPDATE user_mfa SET last_used_step = 1 WHERE user_id = $1", UUID(user.id))
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute("UPDATE user_mfa SET secret_ciphertext = '\\x00' WHERE user_id = $1", UUID(user.id))
    with pytest.raises(asyncpg.ForeignKeyViolationError):  # backup codes need two-factor set up
        await db.execute(
            "INSERT INTO mfa_backup_codes (user_id, code_hash) VALUES ($1, $2)",
            UUID((await signed_in_user(client)).id),
            b"\x00" * 32,
        )
