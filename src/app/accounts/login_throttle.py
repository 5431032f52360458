"""Failed sign-ins, counted per account and per client IP (DESIGN.md §5).

Every attempt is counted *before* its password or code is checked (`check`), and a success takes
its count back (`succeeded`): so concurrent attempts cannot all pass a check made before any of
them failed, and at most `login_lockout_after_failures` guesses per account (per window) ever
reach the password check, however many are sent at once. `check` refuses a locked-out account
or IP with 429 and ``Retry-After``, and otherwise sleeps the delay the account has earned:
nothing for the first `login_failures_before_delay` failures, then `login_delay_base_seconds`,
growing by `login_delay_factor` with every further failure up to `login_delay_max_seconds`.
Counts live for `login_failure_window_seconds` from the first attempt; reaching
`login_lockout_after_failures` (account) or `login_ip_lockout_after_failures` (IP, higher: many
people may share one address) locks that account or IP out for `login_lockout_seconds`. `failed`
logs a warning and sends one Sentry message per window when a lockout starts. A lockout is
temporary and says when to retry: an attacker can delay a victim, never lock them out for good.

The account is the user's id once the login names a user, else the login as typed (case-folded,
trimmed), so an unknown account is counted and answered exactly like an existing one, and the
email and the username of one user share one count. An IPv6 address counts by its /64. Redis
keys hold an HMAC of account and address under a key derived from SECRET_KEY, never the values.
Each call is one atomic Lua script; when Redis is down or unset, the same rules run in this
process (per worker) instead: sign-in never fails open.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import math
import time
from typing import Any
from uuid import UUID

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.core.config import Settings
from app.core.encryption import derive_key
from app.core.exceptions import RateLimitedError
from app.core.logging import get_logger
from app.core.metrics import RATE_LIMIT_BACKEND_ERRORS
from app.core.monitoring import ErrorMonitoring
from app.core.rate_limit import BackendHealth, ip_bucket

__all__ = ["LOCKED_OUT_MESSAGE", "LoginThrottle"]

logger = get_logger(__name__)

LOCKED_OUT_MESSAGE = "Too many failed sign-in attempts; retry after the number of seconds in Retry-After."
_REDIS_ERRORS = (RedisError, OSError, asyncio.TimeoutError)

# KEYS = {account count, account lock, ip count, ip lock} (the last two absent without an IP);
# ARGV = {window ms, lockout ms, account threshold, ip threshold}.
# A lock in place: returns {account lock ms left (-2 none), ip lock ms left, 0, 0}, counts nothing.
# Otherwise counts this attempt for both and returns {-2, -2, account count, ip count (0)}; a
# count reaching its threshold starts that lockout for every attempt after this one.
_RESERVE_SCRIPT = """
local account_lock = redis.call('PTTL', KEYS[2])
local ip_lock = -2
if #KEYS > 2 then ip_lock = redis.call('PTTL', KEYS[4]) end
if account_lock > 0 or ip_lock > 0 then return {account_lock, ip_lock, 0, 0} end
local function count(key, lock, threshold)
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
  if n >= tonumber(threshold) then redis.call('SET', lock, '1', 'PX', ARGV[2]) end
  return n
end
local account = count(KEYS[1], KEYS[2], ARGV[3])
local ip = 0
if #KEYS > 2 then ip = count(KEYS[3], KEYS[4], ARGV[4]) end
return {-2, -2, account, ip}
"""
# KEYS as above; ARGV = {ip threshold}. A success: the account starts afresh; the attempt is
# taken back from the IP's count (and a lock only this attempt set is lifted).
_SUCCEEDED_SCRIPT = """
redis.call('DEL', KEYS[1], KEYS[2])
if #KEYS > 2 then
  local n = tonumber(redis.call('GET', KEYS[3]) or '0')
  if n > 0 then n = redis.call('DECR', KEYS[3]) end
  if n < tonumber(ARGV[1]) then redis.call('DEL', KEYS[4]) end
end
return 1
"""
# KEYS = {account count, ip count (optional)}: the counts, for the lockout message.
_COUNTS_SCRIPT = """
local ip = 0
if #KEYS > 1 then ip = tonumber(redis.call('GET', KEYS[2]) or '0') end
return {tonumber(redis.call('GET', KEYS[1]) or '0'), ip}
"""


class _LocalCounts:
    """The in-process fallback: the same counters and locks as in Redis, per worker."""

    MAX_KEYS = 100_000

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, float]] = {}  # key -> (failures, window ends)
        self._locks: dict[str, float] = {}  # key -> locked until

    def lock_ms(self, key: str) -> int:
        until = self._locks.get(key)
        if until is None:
            return -2
        left = until - time.monotonic()
        if left <= 0:
            del self._locks[key]
            return -2
        return math.ceil(left * 1000)

    def count(self, key: str) -> int:
        entry = self._counts.get(key)
        return entry[0] if entry is not None and entry[1] > time.monotonic() else 0

    def add(self, key: str, lock: str, threshold: int, window: float, lockout: float) -> int:
        now = time.monotonic()
        if len(self._counts) >= self.MAX_KEYS:
            self._prune(now)
        entry = self._counts.get(key)
        failures, ends = (
            (entry[0] + 1, entry[1]) if entry is not None and entry[1] > now else (1, now + window)
        )
        self._counts[key] = (failures, ends)
        if failures >= threshold:
            self._locks[lock] = now + lockout
        return failures

    def clear(self, key: str, lock: str) -> None:
        self._counts.pop(key, None)
        self._locks.pop(lock, None)

    def take_back(self, key: str, lock: str, threshold: int) -> None:
        entry = self._counts.get(key)
        if entry is not None and entry[0] > 0:
            self._counts[key] = (entry[0] - 1, entry[1])
        if self.count(key) < threshold:
            self._locks.pop(lock, None)

    def _prune(self, now: float) -> None:
        """Drop what has expired; if that is not enough, the tenth of the counts created longest
        ago (never all: that would forgive every account at once)."""
        self._counts = {key: entry for key, entry in self._counts.items() if entry[1] > now}
        self._locks = {key: until for key, until in self._locks.items() if until > now}
        excess = len(self._counts) - self.MAX_KEYS * 9 // 10
        if excess > 0:
            for key in list(itertools.islice(self._counts, excess)):
                del self._counts[key]


class LoginThrottle:
    """Progressive delay and temporary lockout of failed sign-ins, per account and per IP."""

    def __init__(self, *, redis: Redis | None, settings: Settings) -> None:
        self._redis = redis
        self._prefix = f"{settings.rate_limit_key_prefix}login:"
        # Keys name accounts and addresses by an HMAC under this key, never in clear.
        self._key = derive_key(settings.secret_key, label="app/login-throttle-keys/v1")
        self._free = settings.login_failures_before_delay
        self._base = settings.login_delay_base_seconds
        self._factor = settings.login_delay_factor
        self._max_delay = settings.login_delay_max_seconds
        self._account_threshold = settings.login_lockout_after_failures
        self._ip_threshold = settings.login_ip_lockout_after_failures
        self._window = settings.login_failure_window_seconds
        self._lockout = settings.login_lockout_seconds
        self._reserve_args = (
            self._window * 1000,
            self._lockout * 1000,
            self._account_threshold,
            self._ip_threshold,
        )
        self._scripts: tuple[Any, Any, Any] | None = None
        if redis is not None:
            self._scripts = (
                redis.register_script(_RESERVE_SCRIPT),  # pyright: ignore[reportUnknownMemberType]
                redis.register_script(_SUCCEEDED_SCRIPT),  # pyright: ignore[reportUnknownMemberType]
                redis.register_script(_COUNTS_SCRIPT),  # pyright: ignore[reportUnknownMemberType]
            )
        self._health = BackendHealth("login_throttle")
        self._backend_errors = RATE_LIMIT_BACKEND_ERRORS.labels("login")
        self.local = _LocalCounts()

    async def check(self, *, account: str, ip: str | None) -> None:
        """Before verifying a password or code: raises RateLimitedError (429, Retry-After) when the
        account or the IP is locked out; otherwise counts this attempt (`succeeded` takes it back)
        and sleeps the progressive delay owed for the failures before it."""
        keys = self._keys(account, ip)
        account_lock, ip_lock, attempts = await self._reserve(keys)
        locked_ms = max(account_lock, ip_lock)
        if locked_ms > 0:
            raise RateLimitedError(LOCKED_OUT_MESSAGE, retry_after=math.ceil(locked_ms / 1000))
        delay = self.delay(attempts - 1)
        if delay > 0:
            await asyncio.sleep(delay)

    async def failed(self, *, account: str, ip: str | None, user_id: UUID | None) -> None:
        """The attempt `check` counted failed: when it started a lockout, log a warning and send
        Sentry the message "multiple_failed_logins" (level warning, with `ip` and `account_id`:
        `user_id` as a string, or None for an unknown account); never the password."""
        keys = self._keys(account, ip)
        account_failures, ip_failures = await self._counts(keys)
        crossed = [
            name
            for name, failures, threshold in (
                ("account", account_failures, self._account_threshold),
                ("ip", ip_failures, self._ip_threshold),
            )
            if failures == threshold
        ]
        if not crossed:
            return
        account_id = str(user_id) if user_id is not None else None
        logger.warning(
            "multiple failed logins",
            extra={
                "locked": ",".join(crossed),
                "ip": ip,
                "account_id": account_id,
                "account_failures": account_failures,
                "ip_failures": ip_failures,
                "lockout_s": self._lockout,
            },
        )
        ErrorMonitoring.capture_message(
            "multiple_failed_logins",
            level="warning",
            ip=ip,
            account_id=account_id,
            locked=",".join(crossed),
            account_failures=account_failures,
            ip_failures=ip_failures,
        )

    async def succeeded(self, *, account: str, ip: str | None) -> None:
        """The attempt `check` counted succeeded: the account starts afresh, and the attempt is
        taken back from the IP's count (one success must not reset a credential-stuffing count)."""
        keys = self._keys(account, ip)
        if self._scripts is not None and self._health.usable():
            try:
                await self._scripts[1](keys=keys, args=(self._ip_threshold,))
            except _REDIS_ERRORS as exc:
                self._health.failed(exc, fallback="in-process login throttle")
                self._backend_errors.inc()
        self.local.clear(keys[0], keys[1])
        if len(keys) > 2:
            self.local.take_back(keys[2], keys[3], self._ip_threshold)

    def delay(self, failures: int) -> float:
        """Seconds to wait before checking a password after `failures` recent failures."""
        over = failures - self._free
        if over < 0 or self._base <= 0:
            return 0.0
        return min(self._max_delay, self._base * self._factor ** min(over, 64))

    def _digest(self, value: str) -> str:
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()[:32]

    def _keys(self, account: str, ip: str | None) -> list[str]:
        """[account count, account lock] and, with an IP, [ip count, ip lock] after them."""
        account_key = f"{self._prefix}a:{self._digest(account.strip().casefold())}"
        if ip is None:
            return [account_key, f"{account_key}:lock"]
        ip_key = f"{self._prefix}ip:{self._digest(ip_bucket(ip))}"
        return [account_key, f"{account_key}:lock", ip_key, f"{ip_key}:lock"]

    async def _reserve(self, keys: list[str]) -> tuple[int, int, int]:
        if self._scripts is not None and self._health.usable():
            try:
                account_lock, ip_lock, attempts, _ = await self._scripts[0](
                    keys=keys, args=self._reserve_args
                )
                return int(account_lock), int(ip_lock), int(attempts)
            except _REDIS_ERRORS as exc:
                self._health.failed(exc, fallback="in-process login throttle")
        if self._redis is not None:
            self._backend_errors.inc()
        local = self.local
        account_lock = local.lock_ms(keys[1])
        ip_lock = local.lock_ms(keys[3]) if len(keys) > 2 else -2
        if account_lock > 0 or ip_lock > 0:
            return account_lock, ip_lock, 0
        window, lockout = float(self._window), float(self._lockout)
        attempts = local.add(keys[0], keys[1], self._account_threshold, window, lockout)
        if len(keys) > 2:
            local.add(keys[2], keys[3], self._ip_threshold, window, lockout)
        return -2, -2, attempts

    async def _counts(self, keys: list[str]) -> tuple[int, int]:
        count_keys = keys[0::2]
        if self._scripts is not None and self._health.usable():
            try:
                account, ip = await self._scripts[2](keys=count_keys)
                return int(account), int(ip)
            except _REDIS_ERRORS as exc:
                self._health.failed(exc, fallback="in-process login throttle")
        if self._redis is not None:
            self._backend_errors.inc()
        ip = self.local.count(keys[2]) if len(keys) > 2 else 0
        return self.local.count(keys[0]), ip
