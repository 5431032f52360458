"""Typed functions over the named SQL in `sql/accounts/`: the only place this feature runs SQL."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from app.accounts.structs import (
    CredentialsRow,
    EmailTokenRow,
    IdentityRow,
    MfaAttemptRow,
    MfaStateRow,
    PasswordRow,
    PublicUserOut,
    SessionOut,
    SessionRef,
    UserOut,
)
from app.core.db import Connection, row_or_none, rows, sql

EmailPurpose = str  # 'verify_email' | 'password_reset' (CHECK constraint in the schema)


def _q():  # noqa: ANN202 - aiosql namespace, dynamically typed
    return sql().accounts


async def insert_user(
    conn: Connection,
    *,
    id: UUID,  # noqa: A002
    email: str,
    username: str,
    password_hash: str,
    display_name: str | None,
    locale: str,
) -> UserOut:
    record = await _q().insert_user(
        conn,
        id=id,
        email=email,
        username=username,
        password_hash=password_hash,
        display_name=display_name,
        locale=locale,
    )
    return msgspec.convert(record, UserOut)


async def get_user(conn: Connection, *, id: UUID) -> UserOut | None:  # noqa: A002
    return row_or_none(await _q().get_user(conn, id=id), UserOut)


async def get_public_user(conn: Connection, *, id: UUID) -> PublicUserOut | None:  # noqa: A002
    return row_or_none(await _q().get_public_user(conn, id=id), PublicUserOut)


async def get_credentials_by_login(conn: Connection, *, login: str) -> CredentialsRow | None:
    return row_or_none(await _q().get_credentials_by_login(conn, login=login), CredentialsRow)


async def get_credentials_by_id(conn: Connection, *, id: UUID) -> PasswordRow | None:  # noqa: A002
    return row_or_none(await _q().get_credentials_by_id(conn, id=id), PasswordRow)


async def get_user_by_email(conn: Connection, *, email: str) -> IdentityRow | None:
    return row_or_none(await _q().get_user_by_email(conn, email=email), IdentityRow)


async def update_profile(
    conn: Connection,
    *,
    id: UUID,  # noqa: A002
    changes: dict[str, str | None],
) -> UserOut | None:
    """Apply only the fields present in `changes` (a value of None clears the field)."""
    params: dict[str, object] = {}
    for field in ("display_name", "bio", "avatar_url", "locale"):
        params[f"set_{field}"] = field in changes
        params[field] = changes.get(field)
    return row_or_none(await _q().update_profile(conn, id=id, **params), UserOut)


async def update_password_hash(conn: Connection, *, id: UUID, password_hash: str) -> None:  # noqa: A002
    await _q().update_password_hash(conn, id=id, password_hash=password_hash)


async def mark_email_verified(conn: Connection, *, id: UUID, email: str) -> bool:  # noqa: A002
    return await _q().mark_email_verified(conn, id=id, email=email) is not None


async def soft_delete_user(conn: Connection, *, id: UUID) -> bool:  # noqa: A002
    return await _q().soft_delete_user(conn, id=id) is not None


async def insert_session(
    conn: Connection,
    *,
    id: UUID,  # noqa: A002
    user_id: UUID,
    user_agent: str | None,
    ip: str | None,
    expires_at: datetime,
    token_hash: bytes,
) -> None:
    await _q().insert_session(
        conn,
        id=id,
        user_id=user_id,
        user_agent=user_agent,
        ip=ip,
        expires_at=expires_at,
        token_hash=token_hash,
    )


async def rotate_refresh_token(
    conn: Connection,
    *,
    old_hash: bytes,
    new_hash: bytes,
    expires_at: datetime,
    user_agent: str | None,
    ip: str | None,
) -> SessionRef | None:
    record = await _q().rotate_refresh_token(
        conn,
        old_hash=old_hash,
        new_hash=new_hash,
        expires_at=expires_at,
        user_agent=user_agent,
        ip=ip,
    )
    return row_or_none(record, SessionRef)


async def revoke_session_of_spent_token(conn: Connection, *, token_hash: bytes) -> UUID | None:
    return await _q().revoke_session_of_spent_token(conn, token_hash=token_hash)


async def list_active_sessions(
    conn: Connection, *, user_id: UUID, after_id: UUID | None, limit: int
) -> list[SessionOut]:
    records = _q().list_active_sessions(conn, user_id=user_id, after_id=after_id, limit=limit)
    return await rows(records, SessionOut)


async def revoke_session(conn: Connection, *, id: UUID, user_id: UUID, reason: str) -> bool:  # noqa: A002
    return await _q().revoke_session(conn, id=id, user_id=user_id, reason=reason) is not None


async def revoke_user_sessions(
    conn: Connection, *, user_id: UUID, reason: str, keep_id: UUID | None = None
) -> None:
    await _q().revoke_user_sessions(conn, user_id=user_id, reason=reason, keep_id=keep_id)


async def is_session_active(conn: Connection, *, id: UUID, user_id: UUID) -> bool:  # noqa: A002
    return bool(await _q().is_session_active(conn, id=id, user_id=user_id))


async def insert_email_token(
    conn: Connection,
    *,
    token_hash: bytes,
    user_id: UUID,
    purpose: EmailPurpose,
    email: str,
    expires_at: datetime,
) -> None:
    await _q().insert_email_token(
        conn,
        token_hash=token_hash,
        user_id=user_id,
        purpose=purpose,
        email=email,
        expires_at=expires_at,
    )


async def consume_email_token(
    conn: Connection, *, token_hash: bytes, purpose: EmailPurpose
) -> EmailTokenRow | None:
    record = await _q().consume_email_token(conn, token_hash=token_hash, purpose=purpose)
    return row_or_none(record, EmailTokenRow)


async def get_valid_email_token(
    conn: Connection, *, token_hash: bytes, purpose: EmailPurpose
) -> EmailTokenRow | None:
    record = await _q().get_valid_email_token(conn, token_hash=token_hash, purpose=purpose)
    return row_or_none(record, EmailTokenRow)


async def invalidate_email_tokens(conn: Connection, *, user_id: UUID, purpose: EmailPurpose) -> None:
    await _q().invalidate_email_tokens(conn, user_id=user_id, purpose=purpose)


# ---- two-factor ---------------------------------------------------------------------------


async def get_mfa_state(conn: Connection, *, user_id: UUID) -> MfaStateRow | None:
    """None if the account does not exist (or was deleted)."""
    return row_or_none(await _q().get_mfa_state(conn, user_id=user_id), MfaStateRow)


async def upsert_mfa_secret(conn: Connection, *, user_id: UUID, secret_ciphertext: bytes) -> bool:
    """False if two-factor is already on (the confirmed secret is kept)."""
    record = await _q().upsert_mfa_secret(conn, user_id=user_id, secret_ciphertext=secret_ciphertext)
    return record is not None


async def confirm_mfa(conn: Connection, *, user_id: UUID, secret_ciphertext: bytes, step: int) -> bool:
    record = await _q().confirm_mfa(conn, user_id=user_id, secret_ciphertext=secret_ciphertext, step=step)
    return record is not None


async def advance_mfa_step(conn: Connection, *, user_id: UUID, step: int) -> bool:
    """False if a code of this time step (or a later one) was already accepted."""
    return await _q().advance_mfa_step(conn, user_id=user_id, step=step) is not None


async def replace_backup_codes(conn: Connection, *, user_id: UUID, code_hashes: list[bytes]) -> None:
    await _q().replace_backup_codes(conn, user_id=user_id, code_hashes=code_hashes)


async def consume_backup_code(conn: Connection, *, user_id: UUID, code_hashes: list[bytes]) -> bool:
    return await _q().consume_backup_code(conn, user_id=user_id, code_hashes=code_hashes) is not None


async def delete_user_mfa(conn: Connection, *, user_id: UUID) -> bool:
    return await _q().delete_user_mfa(conn, user_id=user_id) is not None


async def insert_mfa_challenge(
    conn: Connection,
    *,
    token_hash: bytes,
    user_id: UUID,
    login_name: str,
    max_attempts: int,
    user_agent: str | None,
    ip: str | None,
    expires_at: datetime,
) -> None:
    await _q().insert_mfa_challenge(
        conn,
        token_hash=token_hash,
        user_id=user_id,
        login_name=login_name,
        max_attempts=max_attempts,
        user_agent=user_agent,
        ip=ip,
        expires_at=expires_at,
    )


async def claim_mfa_attempt(conn: Connection, *, token_hash: bytes) -> MfaAttemptRow | None:
    """None if the challenge is unknown, used, expired, out of attempts, or two-factor is off."""
    return row_or_none(await _q().claim_mfa_attempt(conn, token_hash=token_hash), MfaAttemptRow)


async def spend_mfa_challenge(conn: Connection, *, token_hash: bytes) -> bool:
    return await _q().spend_mfa_challenge(conn, token_hash=token_hash) is not None


async def delete_mfa_challenges(conn: Connection, *, user_id: UUID) -> None:
    await _q().delete_mfa_challenges(conn, user_id=user_id)
