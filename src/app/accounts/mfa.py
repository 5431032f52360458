"""Two-factor authentication (TOTP, RFC 6238) and backup codes: setting it up, using codes.

`SecondFactor` holds what every use of a code needs (the key that decrypts TOTP secrets, the
code formats); `MfaService` is the signed-in side: enable, confirm, new backup codes, disable.
Signing in with a second factor (the login challenge) belongs to `AccountsService`, which
issues sessions. docs/MFA.md describes the flow.

- TOTP secrets are encrypted at rest with AES-GCM (`app.core.encryption`), bound to the user id.
- A TOTP code is accepted for the current 30-second step and one step either side (clock drift),
  and only for a step later than the last accepted one: no code is ever accepted twice.
- Backup codes are 10 random characters (~49 bits) shown once and stored as SHA-256 digests;
  their entropy makes a slow hash unnecessary. Each works once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Literal, Protocol
from uuid import UUID

import pyotp
from pyotp.totp import TOTP

from app.accounts import queries
from app.accounts.structs import BackupCodesOut, MfaDisableIn, MfaSetupOut, MfaStateRow
from app.core.config import Settings
from app.core.db import Connection, Database
from app.core.encryption import SecretBox, subkeys
from app.core.exceptions import ConflictError, NotFoundError, ValidationError
from app.core.logging import get_logger
from app.core.responses import ErrorCode, FieldError
from app.core.security import PasswordHashing

__all__ = [
    "BACKUP_CODE_COUNT",
    "MFA_KEY_LABEL",
    "LoginThrottling",
    "MfaService",
    "NoThrottle",
    "SecondFactor",
    "invalid_code",
]

logger = get_logger(__name__)

# HKDF label of the development key derived from SECRET_KEY; other uses of SECRET_KEY (JWT) and
# other derived keys use other labels, so no two purposes share a key.
MFA_KEY_LABEL = "app/mfa-totp-secrets/v1"
BACKUP_CODE_KEY_LABEL = "app/mfa-backup-codes/v1"
TOTP_DIGITS = 6
TOTP_PERIOD = 30
TOTP_DRIFT_STEPS = 1
BACKUP_CODE_COUNT = 10
BACKUP_CODE_LENGTH = 10
# No 0/o, 1/i/l: codes are typed in from paper.
_BACKUP_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_IGNORED = str.maketrans("", "", " -")

CodeKind = Literal["totp", "backup", "invalid"]


class LoginThrottling(Protocol):
    """What the services need of the login throttle (app.accounts.login_throttle.LoginThrottle)."""

    async def check(self, *, account: str, ip: str | None) -> None: ...

    async def failed(self, *, account: str, ip: str | None, user_id: UUID | None) -> None: ...

    async def succeeded(self, *, account: str, ip: str | None) -> None: ...


def throttle_account(user_id: UUID | None, login: str) -> str:
    """What a sign-in attempt counts against: the user once the login names one (so their email
    and username share a count), else the login as typed (an unknown account, counted alike)."""
    return f"user:{user_id}" if user_id is not None else login


class NoThrottle:
    """No throttling (services built without one, e.g. in tests of other behaviour)."""

    async def check(self, *, account: str, ip: str | None) -> None:
        del account, ip

    async def failed(self, *, account: str, ip: str | None, user_id: UUID | None) -> None:
        del account, ip, user_id

    async def succeeded(self, *, account: str, ip: str | None) -> None:
        del account, ip


def invalid_code(path: str = "$.code") -> ValidationError:
    return ValidationError(
        "The code is incorrect or was already used.",
        error_code=ErrorCode.INVALID_MFA_CODE,
        details=[FieldError(path=path, message="incorrect or already used")],
    )


def parse_code(code: str) -> tuple[CodeKind, str]:
    """Which kind of code was typed, normalized: spaces and dashes dropped, lower case."""
    value = code.translate(_IGNORED).lower()
    if len(value) == TOTP_DIGITS and value.isdigit():
        return "totp", value
    if len(value) == BACKUP_CODE_LENGTH and all(c in _BACKUP_ALPHABET for c in value):
        return "backup", value
    return "invalid", value


class SecondFactor:
    """Encrypts TOTP secrets and checks codes; one per process, shared by the services."""

    def __init__(self, settings: Settings, *, box: SecretBox | None = None) -> None:
        self.issuer = settings.mfa_issuer
        self._box = box or SecretBox.from_setting(
            settings.encryption_key, fallback_secret=settings.secret_key, label=MFA_KEY_LABEL
        )
        # Backup codes are stored as HMACs under these keys (the first for new codes): a leaked
        # table cannot be searched for codes without the key, and no two users' digests compare.
        self._code_keys = subkeys(
            settings.encryption_key, fallback_secret=settings.secret_key, label=BACKUP_CODE_KEY_LABEL
        )

    def backup_code_digests(self, user_id: UUID, code: str) -> list[bytes]:
        """The digests `code` may be stored under for this user: one per key (rotation)."""
        message = user_id.bytes + code.encode()
        return [hmac.new(key, message, hashlib.sha256).digest() for key in self._code_keys]

    def new_backup_codes(self, user_id: UUID) -> tuple[list[str], list[bytes]]:
        """Fresh backup codes as shown (`abcde-fghjk`) and the digests they are stored under."""
        shown: list[str] = []
        digests: list[bytes] = []
        for _ in range(BACKUP_CODE_COUNT):
            raw = "".join(secrets.choice(_BACKUP_ALPHABET) for _ in range(BACKUP_CODE_LENGTH))
            shown.append(f"{raw[:5]}-{raw[5:]}")
            digests.append(self.backup_code_digests(user_id, raw)[0])
        return shown, digests

    @staticmethod
    def _associated_data(user_id: UUID) -> bytes:
        # Binds a ciphertext to its owner: copied into another user's row it does not decrypt.
        return b"user_mfa.secret:" + user_id.bytes

    def encrypt_secret(self, user_id: UUID, secret: str) -> bytes:
        return self._box.encrypt(secret.encode(), self._associated_data(user_id))

    def decrypt_secret(self, user_id: UUID, ciphertext: bytes) -> str:
        return self._box.decrypt(ciphertext, self._associated_data(user_id)).decode()

    def provisioning_uri(self, secret: str, account: str) -> str:
        return TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD).provisioning_uri(
            name=account, issuer_name=self.issuer
        )

    def matching_step(
        self, user_id: UUID, ciphertext: bytes, code: str, now: float | None = None
    ) -> int | None:
        """The time step whose code `code` is (within the drift allowance), or None."""
        totp = TOTP(self.decrypt_secret(user_id, ciphertext), digits=TOTP_DIGITS, interval=TOTP_PERIOD)
        current = int((time.time() if now is None else now) // TOTP_PERIOD)
        matched: int | None = None
        # Every candidate is compared (no early exit), in constant time.
        for step in range(current - TOTP_DRIFT_STEPS, current + TOTP_DRIFT_STEPS + 1):
            if hmac.compare_digest(totp.generate_otp(step), code):
                matched = step
        return matched

    async def use_code(
        self, conn: Connection, *, user_id: UUID, ciphertext: bytes, code: str, allow_backup: bool = True
    ) -> bool:
        """Accept `code` for a user with two-factor on, spending it: a TOTP code's time step is
        recorded (never accepted again), a backup code is used up. False if it is not accepted."""
        kind, value = parse_code(code)
        if kind == "totp":
            step = self.matching_step(user_id, ciphertext, value)
            return step is not None and await queries.advance_mfa_step(conn, user_id=user_id, step=step)
        if kind == "backup" and allow_backup:
            return await queries.consume_backup_code(
                conn, user_id=user_id, code_hashes=self.backup_code_digests(user_id, value)
            )
        return False


class MfaService:
    """The signed-in user's two-factor settings."""

    def __init__(
        self,
        *,
        db: Database,
        passwords: PasswordHashing,
        second_factor: SecondFactor,
        throttle: LoginThrottling | None = None,
    ) -> None:
        self._db = db
        self._passwords = passwords
        self._factor = second_factor
        self._throttle: LoginThrottling = throttle or NoThrottle()

    async def _state(self, conn: Connection, user_id: UUID) -> MfaStateRow:
        state = await queries.get_mfa_state(conn, user_id=user_id)
        if state is None:
            raise NotFoundError("The account no longer exists.")
        return state

    async def enable(self, user_id: UUID, password: str, *, ip: str | None) -> MfaSetupOut:
        """Start (or restart) setting up TOTP: a new pending secret, not in force until confirmed.

        The password is asked again: a stolen access token alone must not be able to put the
        account under someone else's authenticator."""
        secret = pyotp.random_base32()  # 160 bits, as RFC 4226 recommends
        async with self._db.connection() as conn:
            state = await self._state(conn, user_id)
        if state.enabled:
            raise _already_enabled()
        await self._require_password(user_id, state, password, ip=ip)
        async with self._db.connection() as conn:
            stored = await queries.upsert_mfa_secret(
                conn, user_id=user_id, secret_ciphertext=self._factor.encrypt_secret(user_id, secret)
            )
        if not stored:
            raise _already_enabled()
        logger.info("two-factor setup started")
        return MfaSetupOut(
            secret=secret,
            otpauth_uri=self._factor.provisioning_uri(secret, state.email),
            issuer=self._factor.issuer,
            account=state.email,
        )

    async def confirm(self, user_id: UUID, code: str) -> BackupCodesOut:
        """Turn two-factor on with a first code from the app; returns the backup codes."""
        async with self._db.connection() as conn:
            state = await self._state(conn, user_id)
        if state.enabled:
            raise _already_enabled()
        if state.secret_ciphertext is None:
            raise _not_enabled("Two-factor setup has not been started: call POST /auth/mfa/enable first.")
        kind, value = parse_code(code)
        step = self._factor.matching_step(user_id, state.secret_ciphertext, value) if kind == "totp" else None
        if step is None:
            raise invalid_code()
        shown, digests = self._factor.new_backup_codes(user_id)
        async with self._db.transaction() as conn:
            if not await queries.confirm_mfa(
                conn, user_id=user_id, secret_ciphertext=state.secret_ciphertext, step=step
            ):
                raise ConflictError(
                    "Two-factor setup changed meanwhile (enabled again or confirmed elsewhere); start over."
                )
            await queries.replace_backup_codes(conn, user_id=user_id, code_hashes=digests)
        logger.info("two-factor enabled")
        return BackupCodesOut(backup_codes=shown)

    async def regenerate_backup_codes(self, user_id: UUID, code: str, *, ip: str | None) -> BackupCodesOut:
        """New backup codes for a current TOTP code; the old codes stop working."""
        async with self._db.connection() as conn:
            state = await self._state(conn, user_id)
        ciphertext = _enabled_secret(state)
        await self._throttle.check(account=throttle_account(user_id, state.email), ip=ip)
        shown, digests = self._factor.new_backup_codes(user_id)
        async with self._db.transaction() as conn:
            accepted = await self._factor.use_code(
                conn, user_id=user_id, ciphertext=ciphertext, code=code, allow_backup=False
            )
            if accepted:
                await queries.replace_backup_codes(conn, user_id=user_id, code_hashes=digests)
        if not accepted:
            await self._throttle.failed(
                account=throttle_account(user_id, state.email), ip=ip, user_id=user_id
            )
            raise invalid_code()
        await self._throttle.succeeded(account=throttle_account(user_id, state.email), ip=ip)
        logger.info("backup codes regenerated")
        return BackupCodesOut(backup_codes=shown)

    async def disable(self, user_id: UUID, data: MfaDisableIn, *, ip: str | None) -> None:
        """Turn two-factor off (password and a code required): secret and backup codes are removed."""
        async with self._db.connection() as conn:
            state = await self._state(conn, user_id)
        ciphertext = _enabled_secret(state)
        await self._require_password(user_id, state, data.password, ip=ip, settle=False)
        async with self._db.transaction() as conn:
            accepted = await self._factor.use_code(
                conn, user_id=user_id, ciphertext=ciphertext, code=data.code
            )
            if accepted:
                await queries.delete_user_mfa(conn, user_id=user_id)
        if not accepted:
            await self._throttle.failed(
                account=throttle_account(user_id, state.email), ip=ip, user_id=user_id
            )
            raise invalid_code()
        await self._throttle.succeeded(account=throttle_account(user_id, state.email), ip=ip)
        logger.info("two-factor disabled")

    async def _require_password(
        self, user_id: UUID, state: MfaStateRow, password: str, *, ip: str | None, settle: bool = True
    ) -> None:
        """422 INVALID_CREDENTIALS unless `password` is the user's; a sign-in attempt for the
        login throttle (with `settle`, its success is recorded here; else the caller records it)."""
        account = throttle_account(user_id, state.email)
        await self._throttle.check(account=account, ip=ip)
        if not await self._passwords.verify(state.password_hash, password):
            await self._throttle.failed(account=account, ip=ip, user_id=user_id)
            raise ValidationError(
                "The password is incorrect.",
                error_code=ErrorCode.INVALID_CREDENTIALS,
                details=[FieldError(path="$.password", message="incorrect")],
            )
        if settle:
            await self._throttle.succeeded(account=account, ip=ip)


def _enabled_secret(state: MfaStateRow) -> bytes:
    if not state.enabled or state.secret_ciphertext is None:
        raise _not_enabled("Two-factor authentication is not on for this account.")
    return state.secret_ciphertext


def _already_enabled() -> ConflictError:
    return ConflictError(
        "Two-factor authentication is already on; turn it off first to set up a new authenticator.",
        error_code=ErrorCode.MFA_ALREADY_ENABLED,
    )


def _not_enabled(message: str) -> ConflictError:
    return ConflictError(message, error_code=ErrorCode.MFA_NOT_ENABLED)
