"""LoginThrottle: progressive delay, temporary lockout per account and per IP, Sentry warning.

Every test runs three times: against the real Redis, with no Redis at all (development), and
with a Redis client pointing at a closed port (Redis down: the in-process fallback; sign-in
never fails open).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from uuid import UUID, uuid4

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from app.accounts.login_throttle import LoginThrottle
from app.core.config import Settings
from app.core.exceptions import RateLimitedError
from app.core.monitoring import ErrorMonitoring
from tests import services
from tests.core.test_monitoring import MemoryTransport
from tests.factories import unique

CLOSED_REDIS = "redis://127.0.0.1:1/0"
PASSWORD = "hunter2-not-logged-anywhere"
LOCKOUT_SECONDS = 30
# Small numbers keep the tests fast: delays of 50, 100, 200 (cap) ms after two free failures,
# lockout at the fifth failure of an account or the eighth from an IP.
THROTTLE = {
    "login_failures_before_delay": "2",
    "login_delay_base_seconds": "0.05",
    "login_delay_factor": "2",
    "login_delay_max_seconds": "0.2",
    "login_lockout_after_failures": "5",
    "login_ip_lockout_after_failures": "8",
    "login_failure_window_seconds": "60",
    "login_lockout_seconds": str(LOCKOUT_SECONDS),
}


@pytest.fixture
def throttle_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(**THROTTLE, rate_limit_key_prefix=f"test-{unique()}:")


@pytest.fixture(params=["redis", "no-redis", "redis-down"])
async def backend(
    request: pytest.FixtureRequest, test_services: services.TestServices
) -> AsyncIterator[tuple[str, Redis | None]]:
    kind: str = request.param
    if kind == "no-redis":
        yield kind, None
        return
    url = test_services.redis_url if kind == "redis" else CLOSED_REDIS
    redis = Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)  # pyright: ignore[reportUnknownMemberType]
    try:
        yield kind, redis
    finally:
        await redis.aclose()


@pytest.fixture
def throttle(backend: tuple[str, Redis | None], throttle_settings: Settings) -> LoginThrottle:
    return LoginThrottle(redis=backend[1], settings=throttle_settings)


_addresses = itertools.count(1)


def ip() -> str:
    """Another documentation address (each test has its own key prefix too)."""
    n = next(_addresses)
    return f"192.0.{2 + n // 250 % 2}.{n % 250 + 1}"


async def fail(
    throttle: LoginThrottle, account: str, address: str | None, times: int = 1, user_id: UUID | None = None
) -> None:
    """`times` failed attempts: each counted by `check`, then reported by `failed`."""
    for _ in range(times):
        await throttle.check(account=account, ip=address)
        await throttle.failed(account=account, ip=address, user_id=user_id)


async def timed_check(throttle: LoginThrottle, account: str, address: str | None) -> float:
    started = time.perf_counter()
    await throttle.check(account=account, ip=address)
    return time.perf_counter() - started


# ---- delay, lockout, success ------------------------------------------------------------------


async def test_lockout_after_the_account_threshold_with_retry_after(throttle: LoginThrottle) -> None:
    account, address = f"{unique()}@example.com", ip()
    await fail(throttle, account, address, times=4)  # delayed, not locked
    await fail(throttle, account, address)  # the fifth attempt starts the lockout

    with pytest.raises(RateLimitedError) as refused:
        await throttle.check(account=account, ip=address)

    error = refused.value
    assert error.status_code == 429
    assert error.code == "RATE_LIMITED"
    assert LOCKOUT_SECONDS - 2 <= error.retry_after <= LOCKOUT_SECONDS
    assert error.headers is not None
    assert error.headers["Retry-After"] == str(error.retry_after)
    # Locked whatever the address: the account is what is being guessed.
    with pytest.raises(RateLimitedError):
        await throttle.check(account=account, ip=ip())
    with pytest.raises(RateLimitedError):
        await throttle.check(account=account, ip=None)


async def test_the_delay_grows_after_the_free_failures_up_to_the_cap(throttle: LoginThrottle) -> None:
    account, address = unique(), ip()
    elapsed: list[float] = []
    for _ in range(4):
        elapsed.append(await timed_check(throttle, account, address))
        await throttle.failed(account=account, ip=address, user_id=None)
    # failures before each check: 0, 1, 2, 3 -> delays 0, 0, 0.05, 0.1
    assert elapsed[0] < 0.04
    assert elapsed[1] < 0.04
    assert 0.045 <= elapsed[2] < 0.5
    assert 0.09 <= elapsed[3] < 0.6
    assert throttle.delay(4) == pytest.approx(0.2)
    assert throttle.delay(40) == pytest.approx(0.2)  # the cap


async def test_success_clears_the_account_counter_not_the_ips(throttle: LoginThrottle) -> None:
    account, address = unique(), ip()
    await fail(throttle, account, address, times=4)
    await throttle.check(account=account, ip=address)  # the fifth attempt would lock...
    await throttle.succeeded(account=account, ip=address)  # ...but it succeeded

    assert await timed_check(throttle, account, address) < 0.04  # no delay owed any more
    await throttle.failed(account=account, ip=address, user_id=None)
    await fail(throttle, account, address, times=2)  # 3 since the success: no account lockout
    await throttle.check(account=account, ip=None)
    # ...but the address has failed 4 + 3 = 7 times (the success was taken back); the eighth locks it.
    await fail(throttle, unique(), address)
    with pytest.raises(RateLimitedError):
        await throttle.check(account=unique(), ip=address)


async def test_concurrent_attempts_cannot_outrun_the_lockout(throttle: LoginThrottle) -> None:
    """Attempts are counted before their password is checked: of 20 sent at once against an
    account with a threshold of 5, at most 5 get to the password check."""
    account = unique()

    async def attempt() -> bool:
        try:
            await throttle.check(account=account, ip=None)
        except RateLimitedError:
            return False
        return True

    passed = await asyncio.gather(*(attempt() for _ in range(20)))
    assert sum(passed) == 5


async def test_the_login_is_normalized_so_case_and_spaces_do_not_help(throttle: LoginThrottle) -> None:
    name = unique()
    for typed in (f"{name}@Example.com", f"  {name.upper()}@EXAMPLE.COM ", f"{name}@example.com\t"):
        await fail(throttle, typed, None)
    await fail(throttle, f"{name}@example.com", None, times=2)

    with pytest.raises(RateLimitedError):
        await throttle.check(account=f"{name.upper()}@example.com", ip=None)


async def test_a_credential_stuffing_burst_locks_the_ip(throttle: LoginThrottle) -> None:
    address = ip()
    for _ in range(8):  # eight different accounts, one failure each
        await fail(throttle, unique(), address)

    with pytest.raises(RateLimitedError) as refused:
        await throttle.check(account=unique(), ip=address)
    assert LOCKOUT_SECONDS - 2 <= refused.value.retry_after <= LOCKOUT_SECONDS
    # Another address is not affected, nor is sign-in without a known address.
    await throttle.check(account=unique(), ip=ip())
    await throttle.check(account=unique(), ip=None)


async def test_unknown_and_known_accounts_are_counted_alike(throttle: LoginThrottle) -> None:
    known, unknown, address = unique(), unique(), ip()
    user_id = uuid4()
    for _ in range(5):
        await fail(throttle, known, address, user_id=user_id)
        await fail(throttle, unknown, None)

    answers: list[tuple[str, int]] = []
    for account in (known, unknown):
        with pytest.raises(RateLimitedError) as refused:
            await throttle.check(account=account, ip=None)
        answers.append((refused.value.message, refused.value.status_code))
    assert answers[0] == answers[1]


# ---- Redis ------------------------------------------------------------------------------------


async def test_redis_holds_hashes_never_the_login(
    throttle_settings: Settings, test_services: services.TestServices
) -> None:
    redis = Redis.from_url(test_services.redis_url)  # pyright: ignore[reportUnknownMemberType]
    throttle = LoginThrottle(redis=redis, settings=throttle_settings)
    email = f"{unique()}@example.com"
    try:
        await fail(throttle, email.upper(), "203.0.113.9", times=5)
        keys = [
            key.decode() async for key in redis.scan_iter(match=f"{throttle_settings.rate_limit_key_prefix}*")
        ]
        values = [await redis.get(key) for key in keys]
    finally:
        await redis.aclose()

    expected = throttle._keys(email, "203.0.113.9")[:3]  # pyright: ignore[reportPrivateUsage]
    assert sorted(keys) == sorted(expected)  # the address's lock is not set: 5 < 8
    assert not any(email.split("@")[0] in key.lower() or "203.0.113" in key for key in keys)
    assert hashlib.sha256(email.encode()).hexdigest()[:32] not in "".join(keys)  # keyed, not a bare hash
    assert all(isinstance(value, bytes) and email.encode() not in value for value in values)


async def test_redis_down_falls_back_in_process_and_counts_backend_errors(
    throttle_settings: Settings,
) -> None:
    redis = Redis.from_url(CLOSED_REDIS)  # pyright: ignore[reportUnknownMemberType]
    labels = {"group": "login"}
    before = REGISTRY.get_sample_value("app_rate_limit_backend_errors_total", labels) or 0.0
    try:
        throttle = LoginThrottle(redis=redis, settings=throttle_settings)
        account = unique()
        await fail(throttle, account, None, times=5)
        with pytest.raises(RateLimitedError):
            await throttle.check(account=account, ip=None)
    finally:
        await redis.aclose()

    after = REGISTRY.get_sample_value("app_rate_limit_backend_errors_total", labels) or 0.0
    # Each attempt: one error for its check, one for `failed` (reading the counts); then the refusal.
    assert after == before + 11


# ---- Sentry -----------------------------------------------------------------------------------


async def test_crossing_a_threshold_sends_one_sentry_warning(
    throttle: LoginThrottle, sentry: MemoryTransport
) -> None:
    account, address, user_id = unique(), "198.51.100.23", uuid4()
    await fail(throttle, account, address, times=5, user_id=user_id)  # the fifth crosses the threshold
    for _ in range(2):  # refused from then on: no further reports
        with pytest.raises(RateLimitedError):
            await fail(throttle, account, address, user_id=user_id)
    ErrorMonitoring.flush()

    events = [event for event in sentry.events() if event.get("message") == "multiple_failed_logins"]
    assert len(events) == 1
    event = events[0]
    assert event["level"] == "warning"
    context = event["contexts"]["app"]
    assert context["ip"] == address
    assert context["account_id"] == str(user_id)
    assert context["locked"] == "account"
    assert PASSWORD not in sentry.raw()
    assert account not in sentry.raw()


async def test_an_ip_crossing_its_threshold_is_reported_without_an_account(
    throttle: LoginThrottle, sentry: MemoryTransport
) -> None:
    address = "198.51.100.77"
    for _ in range(8):
        await fail(throttle, unique(), address)
    with pytest.raises(RateLimitedError):
        await fail(throttle, unique(), address)
    ErrorMonitoring.flush()

    events = [event for event in sentry.events() if event.get("message") == "multiple_failed_logins"]
    assert [event["contexts"]["app"]["locked"] for event in events] == ["ip"]
    assert events[0]["contexts"]["app"]["ip"] == address
    assert events[0]["contexts"]["app"]["account_id"] is None
