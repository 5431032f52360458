"""Failed sign-ins, counted per account and per client IP (DESIGN.md §5).

Before a password is checked, `check` refuses a locked-out account or IP with 429 and
``Retry-After``, and otherwise sleeps the delay the account has earned: nothing for the first
`login_failures_before_delay` failures, then `login_delay_base_seconds`, growing by
`login_delay_factor` with every further failure up to `login_delay_max_seconds`. `failed` counts
a failure for the account and the IP within `login_failure_window_seconds` (the window starts at
the first failure); reaching `login_lockout_after_failures` (account) or
`login_ip_lockout_after_failures` (IP, higher: many people may share one address) locks that
account or IP out for `login_lockout_seconds`, logs a warning and sends one Sentry message per
window. A lockout is temporary and says when to retry: an attacker can delay a victim, never lock
them out for good. `succeeded` clears the account's counter.

The account is the login as typed (case-folded, trimmed), so an unknown account is counted and
answered exactly like an existing one. Keys in Redis hold its SHA-256, never the address itself.
Each call is one atomic Lua script; when Redis is down or unset, the same rules run in this
process (per worker) instead: sign-in never fails open.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from uuid import UUID

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.core.config import Settings
from app.core.exceptions import RateLimitedError
from app.core.logging import get_logger
from app.core.metrics import RATE_LIMIT_BACKEND_ERRORS
from app.core.monitoring import ErrorMonitoring
from app.core.rate_limit import BackendHealth

__all__ = ["LOCKED_OUT_MESSAGE", "LoginThrottle"]

logger = get_logger(__name__)

LOCKED_OUT_MESSAGE = "Too many failed sign-in attempts; retry after the number of seconds in Retry-After."
_REDIS_ERRORS = (RedisError, OSError, asyncio.TimeoutError)

# KEYS = {account count, account lock, ip count, ip lock} (the last two absent without an IP).
# Returns {account lock ms left (-2 none), ip lock ms left (-2 none), account failures}.
_CHECK_SCRIPT = """
local account_lock = redis.call('PTTL', KEYS[2])
local ip_lock = -2
if #KEYS > 2 then ip_lock = redis.call('PTTL', KEYS[4]) end
return {account_lock, ip_lock, tonumber(redis.call('GET', KEYS[1]) or '0')}
"""
# KEYS as above; ARGV = {window ms, lockout ms, account threshold, ip threshold}.
# Returns {account failures, ip failures (0 without an IP)}; a count at or above its threshold
# (re)starts that lockout.
_FAILED_SCRIPT = """
local function count(key, lock, threshold)
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
  if n >= tonumber(threshold) then redis.call('SET', lock, '1', 'PX', ARGV[2]) end
  return n
end
local account = count(KEYS[1], KEYS[2], ARGV[3])
local ip = 0
if #KEYS > 2 then ip = count(KEYS[3], KEYS[4], ARGV[4]) end
return {account, ip}
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

    def clear(self, key: str) -> None:
        self._counts.pop(key, None)

    def _prune(self, now: float) -> None:
        self._counts = {key: entry for key, entry in self._counts.items() if entry[1] > now}
        self._locks = {key: until for key, until in self._locks.items() if until > now}


class LoginThrottle:
    """Progressive delay and temporary lockout of failed sign-ins, per account and per IP."""

    def __init__(self, *, redis: Redis | None, settings: Settings) -> None:
        self._redis = redis
        self._prefix = f"{settings.rate_limit_key_prefix}login:"
        self._free = settings.login_failures_before_delay
        self._base = settings.login_delay_base_seconds
        self._factor = settings.login_delay_factor
        self._max_delay = settings.login_delay_max_seconds
        self._account_threshold = settings.login_lockout_after_failures
        self._ip_threshold = settings.login_ip_lockout_after_failures
        self._window = settings.login_failure_window_seconds
        self._lockout = settings.login_lockout_seconds
        self._failed_args = (
            self._window * 1000,
            self._lockout * 1000,
            self._account_threshold,
            self._ip_threshold,
        )
        self._check_script = None if redis is None else redis.register_script(_CHECK_SCRIPT)  # pyright: ignore[reportUnknownMemberType]
        self._failed_script = None if redis is None else redis.register_script(_FAILED_SCRIPT)  # pyright: ignore[reportUnknownMemberType]
        self._health = BackendHealth("login_throttle")
        self._backend_errors = RATE_LIMIT_BACKEND_ERRORS.labels("login")
        self.local = _LocalCounts()

    async def check(self, *, account: str, ip: str | None) -> None:
        """Before verifying a password: raises RateLimitedError (429, Retry-After) when the account or
        the IP is locked out; otherwise sleeps the progressive delay owed (0 for the first few failures)."""
        keys = self._keys(account, ip)
        account_lock, ip_lock, failures = await self._read(keys)
        locked_ms = max(account_lock, ip_lock)
        if locked_ms > 0:
            raise RateLimitedError(LOCKED_OUT_MESSAGE, retry_after=math.ceil(locked_ms / 1000))
        delay = self.delay(failures)
        if delay > 0:
            await asyncio.sleep(delay)

    async def failed(self, *, account: str, ip: str | None, user_id: UUID | None) -> None:
        """Count a failure for the account and the IP; when a threshold is crossed, log a warning and
        send Sentry the message "multiple_failed_logins" (level warning, with `ip` and `account_id`:
        `user_id` as a string, or None for an unknown account) once per window; never the password."""
        keys = self._keys(account, ip)
        account_failures, ip_failures = await self._count(keys)
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
        """Clear the account's failure counter (not the IP's)."""
        del ip  # an IP's failures stand: one success must not reset a credential-stuffing count
        account_key = self._account_key(account)
        self.local.clear(account_key)
        if self._redis is not None and self._health.usable():
            try:
                await self._redis.delete(account_key)
            except _REDIS_ERRORS as exc:
                self._health.failed(exc, fallback="in-process login throttle")
                self._backend_errors.inc()

    def delay(self, failures: int) -> float:
        """Seconds to wait before checking a password after `failures` recent failures."""
        over = failures - self._free
        if over < 0 or self._base <= 0:
            return 0.0
        return min(self._max_delay, self._base * self._factor ** min(over, 64))

    def _account_key(self, account: str) -> str:
        digest = hashlib.sha256(account.strip().casefold().encode()).hexdigest()
        return f"{self._prefix}a:{digest}"

    def _keys(self, account: str, ip: str | None) -> list[str]:
        """[account count, account lock] and, with an IP, [ip count, ip lock] after them."""
        account_key = self._account_key(account)
        if ip is None:
            return [account_key, f"{account_key}:lock"]
        ip_key = f"{self._prefix}ip:{ip}"
        return [account_key, f"{account_key}:lock", ip_key, f"{ip_key}:lock"]

    async def _read(self, keys: list[str]) -> tuple[int, int, int]:
        if self._check_script is not None and self._health.usable():
            try:
                account_lock, ip_lock, failures = await self._check_script(keys=keys)
                return int(account_lock), int(ip_lock), int(failures)
            except _REDIS_ERRORS as exc:
                self._health.failed(exc, fallback="in-process login throttle")
        if self._redis is not None:
            self._backend_errors.inc()
        local = self.local
        ip_lock = local.lock_ms(keys[3]) if len(keys) > 2 else -2
        return local.lock_ms(keys[1]), ip_lock, local.count(keys[0])

    async def _count(self, keys: list[str]) -> tuple[int, int]:
        if self._failed_script is not None and self._health.usable():
            try:
                account, ip = await self._failed_script(keys=keys, args=self._failed_args)
                return int(account), int(ip)
            except _REDIS_ERRORS as exc:
                self._health.failed(exc, fallback="in-process login throttle")
        if self._redis is not None:
            self._backend_errors.inc()
        local = self.local
        window, lockout = float(self._window), float(self._lockout)
        account = local.add(keys[0], keys[1], self._account_threshold, window, lockout)
        ip = local.add(keys[2], keys[3], self._ip_threshold, window, lockout) if len(keys) > 2 else 0
        return account, ip
