"""Rate limits of the HTTP API: per API key, per user or per client IP, by route group.

Algorithm: GCRA (the generic cell rate algorithm, a token bucket kept as one timestamp). A
group allows ``requests`` per ``window``: a bucket of that many tokens refilled evenly over the
window, so a caller may burst up to the limit and then gets one request every window/requests.
Each key in Redis holds one number, the "theoretical arrival time" (TAT), and a check is one
EVALSHA of a short Lua script that reads it, decides and writes it back with an expiry: atomic
across every granian worker and host, one round trip, one small key per caller that expires
when the bucket is full again. Redis's own clock (``TIME``) is used, so the hosts' clocks do not
matter. Compared with a sliding log it stores one value instead of one per request, and it gives
the exact wait for ``Retry-After`` and the exact remaining quota for ``RateLimit-Remaining``.
Like any token bucket it lets a caller who starts with a full bucket spend it at once and then
the refill: up to ``2 x requests - 1`` in the first window, ``requests`` per window after that.

Clients are told apart by API key, else user, else address; an IPv6 address counts by its /64
(`ip_bucket`), as one host usually holds a whole /64.

Hot callers do not pay a round trip per request: a worker takes their tokens from the shared
bucket in small batches and spends them locally for up to half a second, and remembers a refusal
until its ``Retry-After`` (`RateLimiter.check`). The limit still holds across workers.

Why not Litestar's ``RateLimitMiddleware``: it reads the count, then writes it (get-then-set
under a per-process lock, so workers race each other and exceed the limit), and any Redis
error becomes a 500 (docs/ARCHITECTURE.md#rate-limits).

Where it runs: a step of the app's ``before_request`` hook, after the org access check (which
knows an API key or a user on ``/orgs/...`` routes) and before the strict-body step, so a
refused request never has its body read. On other routes that take a signed-in user the step
authenticates first (the answer is kept for the route's dependency), so the user is known.

Failure mode: Redis down, slow (its socket timeout) or erroring -> the check fails open (the
request goes through without RateLimit headers), ``app_rate_limit_backend_errors_total`` counts
it, a warning is logged at most once a minute, and Redis is not tried again for a second. The
``auth`` group (sign-in, registration, password reset, refresh) never fails open: it falls back
to a limiter in this process. Without ``REDIS_URL`` (development) every group is limited in
process, per worker.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from ipaddress import ip_address, ip_network
from typing import Any, Literal

from litestar import Request
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Scope
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.core.config import Settings
from app.core.context import current_context
from app.core.exceptions import RateLimitedError
from app.core.logging import get_logger
from app.core.metrics import RATE_LIMIT_BACKEND_ERRORS, RATE_LIMIT_REJECTIONS

__all__ = [
    "RATE_LIMIT_HEADERS",
    "RATE_LIMIT_OPT",
    "BackendHealth",
    "Group",
    "LocalBuckets",
    "RateLimiter",
    "client_ip",
    "ip_bucket",
    "rate_limit",
]

logger = get_logger(__name__)

Group = Literal["auth", "write", "read", "webhooks"]
GROUPS: tuple[Group, ...] = ("auth", "write", "read", "webhooks")
# Route option: ``opt=rate_limit("auth")`` puts a route in another group, ``rate_limit(None)`` exempts it.
RATE_LIMIT_OPT = "rate_limit"
# Where a passed check leaves its response headers, in ``scope["state"]``, for the send wrapper of
# `app.core.middleware.ContextualLitestar` to append to the response.
RATE_LIMIT_HEADERS = "rate_limit_headers"
# Never limited: probes, the API documentation and the metrics scrape.
_EXEMPT_PREFIXES = ("/health", "/docs", "/metrics", "/schema")
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_API_KEY_MARK = "api_key:"
_REDIS_ERRORS = (RedisError, OSError, asyncio.TimeoutError)
# After a Redis error, how long checks skip Redis (fail open or fall back) before trying again.
RETRY_SECONDS = 1.0
# At most one warning per this many seconds while Redis keeps failing.
WARN_EVERY_SECONDS = 60.0
# Header values are cut from tables up to this size; larger numbers are encoded when needed.
_TABLE_MAX = 100_000
# Token leases (see RateLimiter.check): a worker takes at most this many tokens of a bucket at once,
# and at most 1/BATCH_SHARE of its limit (so limits under 2 * BATCH_SHARE stay exact), and must use
# them within LEASE_SECONDS.
MAX_BATCH = 64
BATCH_SHARE = 64
LEASE_SECONDS = 0.5

# GCRA taking up to ARGV[3] tokens at once. KEYS[1] = the bucket; ARGV = {limit, window in ms,
# tokens wanted}. Returns {tokens granted (0: refused), remaining after them, wait in ms before
# one token is free (when refused), ms until the bucket is full again}. The small epsilon keeps
# float division from losing a whole token (60000 / (60000 / 7) is not always 7).
_GCRA_SCRIPT = """
local now_parts = redis.call('TIME')
local now = now_parts[1] * 1000 + math.floor(now_parts[2] / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local interval = window / limit
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local free = math.floor((now + window - tat) / interval + 1e-6)
if free < 1 then
  return {0, 0, math.max(1, math.ceil(tat + interval - window - now)), math.ceil(tat - now)}
end
local granted = math.min(free, tonumber(ARGV[3]))
local new_tat = tat + granted * interval
local debt = new_tat - now
-- at least 1 ms: with a huge limit the interval can vanish in the float's precision
local expire = math.max(1, math.ceil(debt))
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', expire)
return {granted, math.floor((window - debt) / interval + 1e-6), 0, expire}
"""


def rate_limit(group: Group | None) -> dict[str, Any]:
    """Route options putting the route in `group` (None: never limited), instead of the default
    group chosen from its path and method."""
    return {RATE_LIMIT_OPT: group}


def client_ip(scope: Scope, trusted_proxy_hops: int = 0) -> str:
    """The client's address: the connection's peer, or with `trusted_proxy_hops` > 0 the entry of
    ``X-Forwarded-For`` that the outermost trusted proxy appended (that many from the right).

    Entries further left are written by the client and never trusted; a header with too few or
    invalid entries falls back to the peer address.
    """
    if trusted_proxy_hops:
        forwarded = [
            value for name, value in scope["headers"] if name == b"x-forwarded-for"
        ]  # several headers count as one comma-separated list (RFC 9110)
        if forwarded:
            entries = b",".join(forwarded).decode("latin-1").split(",")
            if len(entries) >= trusted_proxy_hops:
                candidate = entries[-trusted_proxy_hops].strip()
                try:
                    return str(ip_address(candidate))
                except ValueError:
                    pass
    client = scope["client"]
    return client[0] if client else "unknown"


def ip_bucket(ip: str) -> str:
    """The part of an address that identifies one client: an IPv6 address's /64 (one host
    usually holds a whole /64, so every address in it is the same caller), an IPv4 address as
    is; anything that is not an address (a Unix socket, a test client) unchanged."""
    if ":" not in ip:
        return ip
    try:
        network = ip_network(f"{ip}/64", strict=False)
    except ValueError:
        return ip
    return str(network.network_address) + "/64"


class BackendHealth:
    """Tracks Redis failures for one limiter: a short breaker, and a warning at most once a minute."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._down_until = 0.0
        self._warned_at = -WARN_EVERY_SECONDS
        self._failures = 0

    def usable(self) -> bool:
        return time.monotonic() >= self._down_until

    def failed(self, exc: BaseException, *, fallback: str) -> None:
        """Record a failed Redis call; `fallback` says what the checks do meanwhile (for the log)."""
        now = time.monotonic()
        self._down_until = now + RETRY_SECONDS
        self._failures += 1
        if now - self._warned_at >= WARN_EVERY_SECONDS:
            logger.warning(
                "rate-limit backend unavailable",
                extra={
                    "limiter": self._name,
                    "error": type(exc).__name__,
                    "failures": self._failures,
                    "meanwhile": fallback,
                },
            )
            self._warned_at = now
            self._failures = 0


class LocalBuckets:
    """GCRA buckets in this process: the limiter without Redis, and the fallback of the groups
    that must not fail open. Each worker counts alone, so the effective limit is per worker."""

    MAX_KEYS = 100_000

    def __init__(self) -> None:
        self._tats: dict[str, float] = {}

    def take(self, key: str, limit: int, window_ms: int, want: int = 1) -> tuple[int, int, int, int]:
        """Same answer as the Redis script: (granted, remaining, wait ms, ms until full)."""
        now = time.monotonic() * 1000
        interval = window_ms / limit
        tat = max(self._tats.get(key, now), now)
        free = int((now + window_ms - tat) / interval + 1e-6)
        if free < 1:
            return 0, 0, max(1, _ceil(tat + interval - window_ms - now)), _ceil(tat - now)
        granted = min(free, want)
        if len(self._tats) >= self.MAX_KEYS:
            self._prune(now)
        new_tat = tat + granted * interval
        self._tats[key] = new_tat
        debt = new_tat - now
        return granted, int((window_ms - debt) / interval + 1e-6), 0, max(1, _ceil(debt))

    def _prune(self, now: float) -> None:
        """Drop full buckets (they mean the same as no entry); if too few are full, also the
        tenth created longest ago, never every bucket (that would reset every caller's limit)."""
        self._tats = {key: tat for key, tat in self._tats.items() if tat > now}
        excess = len(self._tats) - self.MAX_KEYS * 9 // 10
        if excess > 0:
            for key in list(itertools.islice(self._tats, excess)):
                del self._tats[key]


def _ceil(ms: float) -> int:
    return int(-(-ms // 1))


def _header_table(name: bytes, size: int) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((name, b"%d" % value) for value in range(min(size, _TABLE_MAX) + 1))


@dataclass(frozen=True, slots=True)
class _Rule:
    """One group's limit and everything precomputed for its checks and headers."""

    group: Group
    requests: int
    window_ms: int
    fail_open: bool
    by_ip_only: bool
    max_batch: int
    key_prefix: str
    args: tuple[bytes, bytes]
    limit_header: tuple[bytes, bytes]
    remaining_headers: tuple[tuple[bytes, bytes], ...]
    reset_headers: tuple[tuple[bytes, bytes], ...]
    rejections: dict[str, Counter]
    backend_errors: Counter

    @classmethod
    def build(cls, group: Group, requests: int, window_seconds: int, prefix: str) -> _Rule:
        return cls(
            group=group,
            requests=requests,
            window_ms=window_seconds * 1000,
            fail_open=group != "auth",
            by_ip_only=group in ("auth", "webhooks"),
            max_batch=max(1, min(MAX_BATCH, requests // BATCH_SHARE)),
            key_prefix=f"{prefix}{group}:",
            args=(b"%d" % requests, b"%d" % (window_seconds * 1000)),
            limit_header=(b"ratelimit-limit", b"%d" % requests),
            remaining_headers=_header_table(b"ratelimit-remaining", requests),
            reset_headers=_header_table(b"ratelimit-reset", window_seconds),
            rejections={kind: RATE_LIMIT_REJECTIONS.labels(group, kind) for kind in ("key", "user", "ip")},
            backend_errors=RATE_LIMIT_BACKEND_ERRORS.labels(group),
        )

    def headers(self, remaining: int, reset_ms: int) -> tuple[tuple[bytes, bytes], ...]:
        reset = (reset_ms + 999) // 1000
        return (
            self.limit_header,
            self.remaining_headers[remaining]
            if remaining < len(self.remaining_headers)
            else (b"ratelimit-remaining", b"%d" % remaining),
            self.reset_headers[reset]
            if reset < len(self.reset_headers)
            else (b"ratelimit-reset", b"%d" % reset),
        )

    def rejected(self, kind: str, wait_ms: int, reset_ms: int) -> RateLimitedError:
        self.rejections[kind].inc()
        return RateLimitedError(
            retry_after=(wait_ms + 999) // 1000,
            headers={
                "RateLimit-Limit": str(self.requests),
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(max(1, (reset_ms + 999) // 1000)),
            },
        )


@dataclass(frozen=True, slots=True)
class _Route:
    """How one route handler is limited (resolved once per handler and method)."""

    rule: _Rule
    needs_user: bool
    webhook_source: bool


_MAX_LEASES = 100_000


class _Lease:
    """What this worker holds of one shared bucket: tokens it may spend, or a refusal, until `until`."""

    __slots__ = ("batch", "full_at", "refused", "remaining", "taken_at", "tokens", "until")

    def __init__(self) -> None:
        self.tokens = 0
        self.until = 0.0
        self.batch = 1
        self.taken_at = 0.0
        self.remaining = 0
        self.full_at = 0.0
        self.refused = False

    def next_batch(self, now: float, max_batch: int) -> int:
        """Double the batch for a key whose lease ran out quickly; halve it for one that expired unused."""
        if self.refused:
            return self.batch
        if self.tokens == 0 and now - self.taken_at < LEASE_SECONDS:
            self.batch = min(max_batch, self.batch * 2)
        elif self.tokens > 0:
            self.batch = max(1, self.batch // 2)
        return min(self.batch, max_batch)

    def taken(self, now: float, want: int, granted: int, remaining: int, wait_ms: int, reset_ms: int) -> None:
        """Record the answer to a request for `want` tokens (tokens still valid here are kept)."""
        self.full_at = now + reset_ms / 1000
        if not granted:
            self.refused = True
            self.batch = 1  # the bucket is (nearly) empty: no worker should hold what is left
            self.tokens = 0
            self.until = now + wait_ms / 1000
            return
        still_valid = self.tokens if not self.refused and now < self.until else 0
        self.refused = False
        self.batch = max(self.batch, want)
        self.tokens = still_valid + granted - 1
        self.remaining = remaining
        self.taken_at = now
        self.until = now + LEASE_SECONDS


Authenticate = Callable[[Request[Any, Any, Any]], Awaitable[object]]
Step = Callable[[Request[Any, Any, Any]], Awaitable[None]]
_NOT_LIMITED = object()


class RateLimiter:
    """The limits of one app: rules from `Settings`, buckets in Redis (or in process)."""

    def __init__(self, settings: Settings, redis: Redis | None) -> None:
        self.enabled = settings.rate_limit_enabled
        self._redis = redis
        self._script: Any = None
        if redis is not None:
            self._script = redis.register_script(_GCRA_SCRIPT)  # pyright: ignore[reportUnknownMemberType]
        self.local = LocalBuckets()
        self.health = BackendHealth("rate_limit")
        self._hops = settings.rate_limit_trusted_proxy_hops
        self._webhook_sources = frozenset(settings.webhook_secrets)
        prefix = settings.rate_limit_key_prefix
        self.rules: dict[Group, _Rule] = {
            "auth": _Rule.build(
                "auth", settings.rate_limit_auth_requests, settings.rate_limit_auth_window_seconds, prefix
            ),
            "write": _Rule.build(
                "write", settings.rate_limit_write_requests, settings.rate_limit_write_window_seconds, prefix
            ),
            "read": _Rule.build(
                "read", settings.rate_limit_read_requests, settings.rate_limit_read_window_seconds, prefix
            ),
            "webhooks": _Rule.build(
                "webhooks",
                settings.rate_limit_webhooks_requests,
                settings.rate_limit_webhooks_window_seconds,
                prefix,
            ),
        }
        self._leases: dict[str, _Lease] = {}
        self._step: Step | None = None
        # id(handler) -> (handler, {method: route or _NOT_LIMITED}); the handler is kept so its id
        # cannot be reused by another handler (tests build many apps), and compared on lookup.
        self._routes: dict[int, tuple[BaseRouteHandler, dict[str, object]]] = {}

    async def take(self, rule: _Rule, key: str, want: int = 1) -> tuple[int, int, int, int] | None:
        """Take up to `want` tokens from the shared bucket `key`: (granted, remaining, wait ms, ms until
        full), or None when Redis failed and the rule fails open."""
        if self._script is not None:
            if self.health.usable():
                try:
                    granted, remaining, wait_ms, reset_ms = await self._script(
                        keys=(key,), args=(*rule.args, want)
                    )
                    return granted, remaining, wait_ms, reset_ms
                except _REDIS_ERRORS as exc:
                    self.health.failed(exc, fallback="fail open, in-process limits for auth")
            rule.backend_errors.inc()
            if rule.fail_open:
                return None
        return self.local.take(key, rule.requests, rule.window_ms, want)

    async def check(self, rule: _Rule, key: str) -> tuple[int, int, int, int] | None:
        """One request of `key` under `rule`: (allowed 1/0, remaining, wait ms, ms until full), or
        None when the check failed open.

        A round trip to Redis per request would cost about as much CPU as the rest of a cached
        read (docs/BENCHMARKS.md), so the worker leases tokens: a key that keeps coming back
        within LEASE_SECONDS asks for twice as many tokens next time (up to the rule's
        `max_batch`), and spends them here without asking Redis. Every token is taken from the
        shared bucket atomically before it is spent, so all workers together never admit more
        than the bucket holds; a lease not used within LEASE_SECONDS is dropped (those tokens
        are lost: the limit errs on the strict side, by at most `max_batch` per worker). A
        refusal is remembered for its wait, so a caller hammering past its limit costs no round
        trip either. Cold keys and small limits take one token at a time: exact GCRA.
        """
        now = time.monotonic()
        lease = self._leases.get(key)
        if lease is not None and now < lease.until:
            if lease.tokens > 0:
                lease.tokens -= 1
                return 1, lease.remaining + lease.tokens, 0, _ceil((lease.full_at - now) * 1000)
            if lease.refused:
                return 0, 0, _ceil((lease.until - now) * 1000), _ceil((lease.full_at - now) * 1000)
        want = 1 if lease is None else lease.next_batch(now, rule.max_batch)
        answer = await self.take(rule, key, want)
        if answer is None:
            return None
        granted, remaining, wait_ms, reset_ms = answer
        now = time.monotonic()
        lease = self._leases.get(key)  # another request of this key may have made one meanwhile
        if lease is None:
            if len(self._leases) >= _MAX_LEASES:
                self._leases = {k: v for k, v in self._leases.items() if v.until > now}
            lease = self._leases[key] = _Lease()
        lease.taken(now, want, granted, remaining, wait_ms, reset_ms)
        if not granted:
            return 0, 0, wait_ms, reset_ms
        return 1, remaining + lease.tokens, 0, reset_ms

    def before_request_steps(self, *, authenticate: Authenticate, dependency: str) -> Sequence[Step]:
        """The ``before_request`` step (none when rate limiting is off). `authenticate` runs first
        on routes with the dependency named `dependency` that no earlier step authenticated."""
        if not self.enabled:
            return ()

        async def check(request: Request[Any, Any, Any]) -> None:
            scope = request.scope
            if RATE_LIMIT_HEADERS in scope["state"]:
                return  # already checked for this request (app.idempotency checks first)
            route = self._route(request.route_handler, scope["path_template"], request.method, dependency)
            if route is None:
                return
            rule = route.rule
            if rule.by_ip_only:
                kind = "ip"
                ip = ip_bucket(client_ip(scope, self._hops))
                if route.webhook_source:
                    source = scope["path_params"].get("source")
                    key = f"{rule.key_prefix}{source if source in self._webhook_sources else '-'}:{ip}"
                else:
                    key = rule.key_prefix + ip
            else:
                context = current_context()
                caller = context.user_id if context is not None else None
                if caller is None and route.needs_user and context is not None:
                    await authenticate(request)
                    caller = context.user_id
                if caller is None:
                    kind, key = "ip", f"{rule.key_prefix}ip:{ip_bucket(client_ip(scope, self._hops))}"
                elif caller.startswith(_API_KEY_MARK):
                    kind, key = "key", rule.key_prefix + caller
                else:
                    kind, key = "user", f"{rule.key_prefix}user:{caller}"
            answer = await self.check(rule, key)
            if answer is None:
                return
            allowed, remaining, wait_ms, reset_ms = answer
            if not allowed:
                raise rule.rejected(kind, wait_ms, reset_ms)
            scope["state"][RATE_LIMIT_HEADERS] = rule.headers(remaining, reset_ms)

        self._step = check
        return (check,)

    async def enforce(self, request: Request[Any, Any, Any]) -> None:
        """The check of `before_request_steps`, for code that runs before the hook (the
        idempotency middleware answers replays without running the route); counted once."""
        if self._step is not None:
            await self._step(request)

    def _route(self, handler: BaseRouteHandler, path: str, method: str, dependency: str) -> _Route | None:
        entry = self._routes.get(id(handler))
        if entry is None or entry[0] is not handler:
            entry = (handler, dict[str, object]())
            self._routes[id(handler)] = entry
        route = entry[1].get(method)
        if route is None:
            route = self._resolve(handler, path, method, dependency) or _NOT_LIMITED
            entry[1][method] = route
        return route if isinstance(route, _Route) else None

    def _resolve(self, handler: BaseRouteHandler, path: str, method: str, dependency: str) -> _Route | None:
        needs_user = dependency in handler.resolve_dependencies()
        if RATE_LIMIT_OPT in handler.opt:
            group: Group | None = handler.opt[RATE_LIMIT_OPT]
            if group is None:
                return None
            return _Route(self.rules[group], needs_user, False)
        if path.startswith(_EXEMPT_PREFIXES):
            return None
        if path.startswith("/auth/") and not needs_user:
            # Sign-in, registration, password reset, refresh, email verification: per IP, strict.
            return _Route(self.rules["auth"], False, False)
        if path.startswith("/webhooks/") and method == "POST":
            return _Route(self.rules["webhooks"], False, "{source" in path)
        group = "read" if method in _READ_METHODS else "write"
        return _Route(self.rules[group], needs_user, False)
