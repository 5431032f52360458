"""Rate limits through the HTTP API, against the real Redis (and without it).

Each test builds its own app with limits on and a Redis key prefix of its own, so tests never
share buckets (the rest of the suite runs with RATE_LIMIT_ENABLED=false: every test client has
the same address).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from litestar import Litestar, get, post
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from app.core.config import Settings
from app.core.rate_limit import RateLimiter, client_ip, rate_limit
from app.main import create_app
from tests import services
from tests.core.conftest import JsonLines
from tests.factories import Client, expect_problem, signed_in_user, unique
from tests.orgs.org_helpers_keys import create_key, key_headers, new_org

CLOSED_REDIS = "redis://127.0.0.1:1/0"
WEBHOOK_SECRET = "whsec-rate-limit-test-0123456789"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def rejections(group: str, kind: str) -> float:
    return sample("app_rate_limit_rejections_total", group=group, key_kind=kind)


def backend_errors(group: str) -> float:
    return sample("app_rate_limit_backend_errors_total", group=group)


def limit_headers(response: httpx.Response) -> tuple[int, int, int]:
    return (
        int(response.headers["ratelimit-limit"]),
        int(response.headers["ratelimit-remaining"]),
        int(response.headers["ratelimit-reset"]),
    )


@get("/test/rate-limit/exempt", opt=rate_limit(None), include_in_schema=False)
async def exempt_route() -> str:
    return "ok"


@post("/test/rate-limit/as-auth", opt=rate_limit("auth"), status_code=200, include_in_schema=False)
async def auth_like_route() -> str:
    return "ok"


@pytest.fixture
def limited_settings(make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    """Settings with rate limits on, generous everywhere unless overridden, and a fresh prefix."""

    def make(**overrides: str) -> Settings:
        values = {
            "rate_limit_enabled": "true",
            "rate_limit_key_prefix": f"test-{unique()}:",
            "rate_limit_auth_requests": "1000",
            "rate_limit_write_requests": "1000",
            "rate_limit_read_requests": "1000",
            "rate_limit_webhooks_requests": "1000",
            "webhook_secret_stripe": WEBHOOK_SECRET,
            "webhook_secret_github": WEBHOOK_SECRET,
        }
        values.update(overrides)
        return make_settings(**values)

    return make


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[Litestar, Client]]:
    app = create_app(settings)
    app.register(exempt_route)
    app.register(auth_like_route)
    async with AsyncTestClient(app) as test_client:
        yield app, test_client


# ---- limits, headers and the problem document --------------------------------------------------


async def test_read_limit_answers_429_with_headers_and_a_problem(
    limited_settings: Callable[..., Settings],
) -> None:
    async with serving(limited_settings(rate_limit_read_requests="3")) as (_, client):
        user = await signed_in_user(client)
        before = rejections("read", "user")
        seen = []
        for _ in range(3):
            response = await client.get("/users/me", headers=user.headers)
            assert response.status_code == 200, response.text
            seen.append(limit_headers(response))
        refused = await client.get("/users/me", headers=user.headers)

    assert [(limit, remaining) for limit, remaining, _ in seen] == [(3, 2), (3, 1), (3, 0)]
    # The bucket refills evenly over the 60 s window: full again within 60 s.
    assert all(1 <= reset <= 60 for _, _, reset in seen)
    problem = expect_problem(refused, 429, "RATE_LIMITED")
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert problem["status"] == 429
    assert problem["request_id"] == refused.headers["x-request-id"]
    # One request every 20 s comes back: the next is allowed in at most 20 s.
    assert 1 <= int(refused.headers["retry-after"]) <= 20
    limit, remaining, reset = limit_headers(refused)
    assert (limit, remaining) == (3, 0)
    assert 40 <= reset <= 60
    assert rejections("read", "user") == before + 1


async def test_writes_and_reads_have_separate_buckets(limited_settings: Callable[..., Settings]) -> None:
    async with serving(limited_settings(rate_limit_read_requests="2", rate_limit_write_requests="5")) as (
        _,
        client,
    ):
        user = await signed_in_user(client)
        for _ in range(2):
            assert (await client.get("/users/me", headers=user.headers)).status_code == 200
        expect_problem(await client.get("/users/me", headers=user.headers), 429, "RATE_LIMITED")
        written = await client.patch("/users/me", json={"display_name": "Ada"}, headers=user.headers)

    assert written.status_code == 200, written.text
    assert limit_headers(written)[:2] == (5, 4)


async def test_a_refused_write_is_not_read_or_acted_on(limited_settings: Callable[..., Settings]) -> None:
    """The check runs before the body is parsed: a malformed body over the limit still gets 429."""
    async with serving(limited_settings(rate_limit_write_requests="1")) as (_, client):
        user = await signed_in_user(client)
        headers = {**user.headers, "content-type": "application/json"}
        first = await client.patch("/users/me", content=b"{not json", headers=headers)
        second = await client.patch("/users/me", content=b"{not json", headers=headers)

    expect_problem(first, 400, "MALFORMED_JSON")
    assert first.headers["ratelimit-remaining"] == "0"
    expect_problem(second, 429, "RATE_LIMITED")


# ---- who is counted ---------------------------------------------------------------------------


async def test_api_keys_users_and_orgs_do_not_share_limits(limited_settings: Callable[..., Settings]) -> None:
    async with serving(limited_settings(rate_limit_read_requests="2")) as (_, client):
        # Setting up spends the owners' own read budget: GETs happen only below.
        owner_a = await signed_in_user(client)
        org_a = await new_org(client, owner_a)
        key_a = (await create_key(client, org_a, owner_a))["key"]
        owner_b = await signed_in_user(client)
        org_b = await new_org(client, owner_b)
        key_b = (await create_key(client, org_b, owner_b))["key"]
        before = rejections("read", "key")

        a_answers = [
            (await client.get(f"/orgs/{org_a}/items", headers=key_headers(key_a))).status_code
            for _ in range(3)
        ]
        b_answer = await client.get(f"/orgs/{org_b}/items", headers=key_headers(key_b))
        # The same key presented as a bearer token is the same caller.
        a_as_bearer = await client.get(f"/orgs/{org_a}/items", headers=key_headers(key_a, "bearer"))
        owner_answer = await client.get(f"/orgs/{org_a}/items", headers=owner_a.headers)

    assert a_answers == [200, 200, 429]
    assert rejections("read", "key") == before + 2
    assert b_answer.status_code == 200
    assert limit_headers(b_answer)[:2] == (2, 1)
    expect_problem(a_as_bearer, 429, "RATE_LIMITED")
    assert owner_answer.status_code == 200
    assert limit_headers(owner_answer)[:2] == (2, 1)


async def test_anonymous_auth_routes_are_limited_per_ip(limited_settings: Callable[..., Settings]) -> None:
    async with serving(limited_settings(rate_limit_auth_requests="2")) as (_, client):
        body = {"login": unique("nobody"), "password": "wrong password here"}
        answers = [await client.post("/auth/login", json=body) for _ in range(2)]
        before = rejections("auth", "ip")
        # Another login, another account: still the same address.
        refused = await client.post("/auth/login", json={**body, "login": unique("other")})
        reset = await client.post("/auth/password-reset/request", json={"email": "x@example.com"})

    assert [r.status_code for r in answers] == [401, 401]
    assert [r.headers["ratelimit-remaining"] for r in answers] == ["1", "0"]
    expect_problem(refused, 429, "RATE_LIMITED")
    assert int(refused.headers["retry-after"]) >= 1
    # Registration, login, reset and refresh share the address's "auth" bucket.
    expect_problem(reset, 429, "RATE_LIMITED")
    assert rejections("auth", "ip") == before + 2


async def test_signed_in_auth_routes_count_per_user(limited_settings: Callable[..., Settings]) -> None:
    async with serving(limited_settings(rate_limit_auth_requests="4", rate_limit_read_requests="1")) as (
        _,
        client,
    ):
        user = await signed_in_user(client)  # register + login: two of the address's auth requests
        sessions = await client.get("/auth/sessions", headers=user.headers)
        again = await client.get("/auth/sessions", headers=user.headers)

    assert sessions.status_code == 200
    assert limit_headers(sessions)[:2] == (1, 0)
    expect_problem(again, 429, "RATE_LIMITED")


async def test_inbound_webhooks_are_limited_per_source_and_ip(
    limited_settings: Callable[..., Settings],
) -> None:
    async with serving(limited_settings(rate_limit_webhooks_requests="2")) as (_, client):
        body = b'{"id": "evt_1", "type": "ping"}'
        headers = {"content-type": "application/json", "webhook-signature": "t=1,v1=00"}
        stripe = [(await client.post("/webhooks/stripe", content=body, headers=headers)) for _ in range(3)]
        github = await client.post("/webhooks/github", content=body, headers=headers)

    assert all(r.status_code != 429 for r in stripe[:2])
    expect_problem(stripe[2], 429, "RATE_LIMITED")
    assert github.status_code != 429
    assert limit_headers(github)[:2] == (2, 1)


# ---- never limited ----------------------------------------------------------------------------


async def test_health_docs_and_exempt_routes_are_never_limited(
    limited_settings: Callable[..., Settings],
) -> None:
    settings = limited_settings(rate_limit_read_requests="1", rate_limit_auth_requests="1")
    async with serving(settings) as (_, client):
        answers = [await client.get(path) for path in ["/health/live", "/health/ready"] * 3]
        answers += [await client.get("/docs/openapi.json") for _ in range(2)]
        answers += [await client.get("/test/rate-limit/exempt") for _ in range(3)]
        as_auth = [await client.post("/test/rate-limit/as-auth") for _ in range(2)]

    assert [r.status_code for r in answers] == [200] * len(answers)
    assert not any("ratelimit-limit" in r.headers for r in answers)
    # A route can also be moved into another group.
    assert as_auth[0].status_code == 200
    assert as_auth[0].headers["ratelimit-limit"] == "1"
    expect_problem(as_auth[1], 429, "RATE_LIMITED")


async def test_disabled_rate_limits_add_no_headers(client: Client) -> None:
    """The shared test app runs with RATE_LIMIT_ENABLED=false."""
    user = await signed_in_user(client)
    response = await client.get("/users/me", headers=user.headers)

    assert response.status_code == 200
    assert "ratelimit-limit" not in response.headers
    assert client.app.state["rate_limiter"].enabled is False


# ---- atomicity --------------------------------------------------------------------------------


async def test_concurrent_requests_never_exceed_the_limit(limited_settings: Callable[..., Settings]) -> None:
    async with serving(limited_settings(rate_limit_read_requests="5")) as (_, client):
        user = await signed_in_user(client)
        answers = await asyncio.gather(*(client.get("/users/me", headers=user.headers) for _ in range(20)))

    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] * 5 + [429] * 15


async def test_workers_sharing_redis_never_exceed_the_limit(
    limited_settings: Callable[..., Settings], test_services: services.TestServices
) -> None:
    """Four limiters with a Redis client each stand for four granian workers, hit all at once."""
    settings = limited_settings(rate_limit_write_requests="25")
    clients = [Redis.from_url(test_services.redis_url, max_connections=50) for _ in range(4)]  # pyright: ignore[reportUnknownMemberType]
    try:
        limiters = [RateLimiter(settings, redis) for redis in clients]
        key = f"{settings.rate_limit_key_prefix}write:user:{unique()}"
        answers = await asyncio.gather(
            *(limiter.check(limiter.rules["write"], key) for limiter in limiters for _ in range(40))
        )
    finally:
        for redis in clients:
            await redis.aclose()

    assert all(answer is not None for answer in answers)
    allowed = [answer for answer in answers if answer is not None and answer[0] == 1]
    assert len(allowed) == 25
    assert sorted(answer[1] for answer in allowed) == list(range(25))  # each remaining count once


async def test_leased_tokens_never_exceed_the_limit_across_workers(
    limited_settings: Callable[..., Settings], test_services: services.TestServices
) -> None:
    """With a large limit workers take tokens in batches; together they still stay within it."""
    # 640 a day: batches of up to 10 tokens, and no refill worth counting during the test.
    settings = limited_settings(rate_limit_read_requests="640", rate_limit_read_window_seconds="86400")
    clients = [Redis.from_url(test_services.redis_url, max_connections=20) for _ in range(4)]  # pyright: ignore[reportUnknownMemberType]
    try:
        limiters = [RateLimiter(settings, redis) for redis in clients]
        rule = limiters[0].rules["read"]
        assert rule.max_batch == 10
        key = f"{settings.rate_limit_key_prefix}read:api_key:{unique()}"

        async def worker(limiter: RateLimiter) -> list[int]:
            allowed: list[int] = []
            for _ in range(20):
                answers = await asyncio.gather(*(limiter.check(rule, key) for _ in range(10)))
                allowed += [answer[0] for answer in answers if answer is not None]
            return allowed

        results = await asyncio.gather(*(worker(limiter) for limiter in limiters))
    finally:
        for redis in clients:
            await redis.aclose()

    admitted = sum(sum(allowed) for allowed in results)
    # Never more than the limit. Fewer by the unspent tokens of leases: up to a batch per worker,
    # more when the machine is so slow that leases expire (0.5 s) with tokens left; not half.
    assert 640 // 2 <= admitted <= 640


async def test_a_hot_key_is_served_from_a_lease_without_a_round_trip_each(
    limited_settings: Callable[..., Settings], test_services: services.TestServices
) -> None:
    # A day's window: the bucket refills about one token a second, nothing during the test.
    settings = limited_settings(rate_limit_read_requests="100000", rate_limit_read_window_seconds="86400")
    redis = Redis.from_url(test_services.redis_url)  # pyright: ignore[reportUnknownMemberType]
    try:
        limiter = RateLimiter(settings, redis)
        rule = limiter.rules["read"]
        key = f"{settings.rate_limit_key_prefix}read:api_key:{unique()}"
        round_trips = 0
        take = limiter.take

        async def counted(*args: Any) -> tuple[int, int, int, int] | None:
            nonlocal round_trips
            round_trips += 1
            return await take(*args)

        limiter.take = counted  # type: ignore[method-assign]
        answers = [await limiter.check(rule, key) for _ in range(1000)]
    finally:
        await redis.aclose()

    assert all(answer is not None and answer[0] == 1 for answer in answers)
    remaining = [answer[1] for answer in answers if answer is not None]
    assert remaining[0] == 100_000 - 1
    assert 100_000 - 1000 <= remaining[-1] <= 100_000 - 1000 + 2
    assert round_trips < 40  # 1, 2, 4, ... 64, then 64 at a time


# ---- Redis trouble ----------------------------------------------------------------------------


async def test_redis_down_fails_open_with_one_warning_and_a_metric(
    limited_settings: Callable[..., Settings], json_log: JsonLines
) -> None:
    settings = limited_settings(redis_url=CLOSED_REDIS, rate_limit_read_requests="1")
    async with serving(settings) as (_, client):
        user = await signed_in_user(client)
        before = backend_errors("read")
        answers = [await client.get("/users/me", headers=user.headers) for _ in range(5)]

    assert [r.status_code for r in answers] == [200] * 5
    assert not any("ratelimit-limit" in r.headers for r in answers)
    assert backend_errors("read") == before + 5
    warnings = [line for line in json_log.lines if '"limiter":"rate_limit"' in line]
    assert len(warnings) == 1, warnings


async def test_auth_routes_fall_back_to_in_process_limits_when_redis_is_down(
    limited_settings: Callable[..., Settings],
) -> None:
    settings = limited_settings(redis_url=CLOSED_REDIS, rate_limit_auth_requests="2")
    async with serving(settings) as (_, client):
        before = backend_errors("auth")
        body = {"login": unique("nobody"), "password": "wrong password here"}
        answers = [await client.post("/auth/login", json=body) for _ in range(3)]

    assert [r.status_code for r in answers[:2]] == [401, 401]
    expect_problem(answers[2], 429, "RATE_LIMITED")
    assert backend_errors("auth") == before + 3


async def test_without_redis_limits_apply_per_process(limited_settings: Callable[..., Settings]) -> None:
    async with serving(limited_settings(redis_url="", rate_limit_read_requests="2")) as (_, client):
        user = await signed_in_user(client)
        answers = [await client.get("/users/me", headers=user.headers) for _ in range(3)]

    assert [r.status_code for r in answers] == [200, 200, 429]
    assert limit_headers(answers[1])[:2] == (2, 0)


async def test_a_flushed_redis_only_restarts_the_counts(
    limited_settings: Callable[..., Settings], test_services: services.TestServices
) -> None:
    settings = limited_settings(rate_limit_read_requests="2")
    redis = Redis.from_url(test_services.redis_url)  # pyright: ignore[reportUnknownMemberType]
    try:
        async with serving(settings) as (_, client):
            user = await signed_in_user(client)
            first = await client.get("/users/me", headers=user.headers)
            # Like a restarted Redis: the buckets and the loaded script are gone.
            keys = [key async for key in redis.scan_iter(match=f"{settings.rate_limit_key_prefix}*")]
            await redis.delete(*keys)
            await redis.script_flush()
            after = [await client.get("/users/me", headers=user.headers) for _ in range(3)]
    finally:
        await redis.aclose()

    assert limit_headers(first)[:2] == (2, 1)
    assert [r.status_code for r in after] == [200, 200, 429]
    assert [r.headers["ratelimit-remaining"] for r in after] == ["1", "0", "0"]


async def test_buckets_expire_from_redis(
    limited_settings: Callable[..., Settings], test_services: services.TestServices
) -> None:
    settings = limited_settings(rate_limit_read_requests="10", rate_limit_read_window_seconds="30")
    redis = Redis.from_url(test_services.redis_url)  # pyright: ignore[reportUnknownMemberType]
    try:
        async with serving(settings) as (_, client):
            user = await signed_in_user(client)
            assert (await client.get("/users/me", headers=user.headers)).status_code == 200
        key = f"{settings.rate_limit_key_prefix}read:user:{user.id}"
        ttl_ms = await redis.pttl(key)
    finally:
        await redis.aclose()

    # One request of ten in 30 s: the bucket is full again, and the key gone, within 3 s.
    assert 0 < ttl_ms <= 3_000


# ---- the client's address ---------------------------------------------------------------------


def scope_with(client: tuple[str, int] | None, *forwarded: bytes) -> Any:
    return {"client": client, "headers": [(b"x-forwarded-for", value) for value in forwarded]}


def test_client_ip_ignores_forwarded_for_by_default() -> None:
    assert client_ip(scope_with(("10.0.0.1", 5000), b"1.2.3.4")) == "10.0.0.1"
    assert client_ip(scope_with(None)) == "unknown"


def test_client_ip_trusts_only_the_configured_proxy_hops() -> None:
    # The client forged the first entry; the load balancer appended the real address.
    forged = scope_with(("10.0.0.1", 5000), b"6.6.6.6, 203.0.113.7")
    assert client_ip(forged, 1) == "203.0.113.7"
    # Two proxies: the outer one appended the client, the inner one the outer proxy.
    assert client_ip(scope_with(("10.0.0.2", 1), b"6.6.6.6, 203.0.113.7, 10.0.0.1"), 2) == "203.0.113.7"
    # Several headers are one list.
    assert client_ip(scope_with(("10.0.0.1", 1), b"6.6.6.6", b"203.0.113.8"), 1) == "203.0.113.8"
    # Too few entries or garbage: the connection's address.
    assert client_ip(scope_with(("10.0.0.1", 1), b"203.0.113.7"), 2) == "10.0.0.1"
    assert client_ip(scope_with(("10.0.0.1", 1), b"not-an-ip"), 1) == "10.0.0.1"
    assert client_ip(scope_with(("10.0.0.1", 1)), 1) == "10.0.0.1"
    assert client_ip(scope_with(("10.0.0.1", 1), b"2001:db8::1"), 1) == "2001:db8::1"


def test_retry_after_of_a_refusal_is_whole_seconds(limited_settings: Callable[..., Settings]) -> None:
    limiter = RateLimiter(limited_settings(rate_limit_read_requests="7"), None)
    rule = limiter.rules["read"]
    key = unique()
    answers = [limiter.local.take(key, rule.requests, rule.window_ms) for _ in range(8)]

    assert [a[0] for a in answers] == [1] * 7 + [0]
    wait_ms = answers[-1][2]
    assert 0 < wait_ms <= math.ceil(60_000 / 7)
    error = rule.rejected("ip", wait_ms, answers[-1][3])
    assert error.status_code == 429
    assert error.headers is not None
    assert error.headers["Retry-After"] == str(math.ceil(wait_ms / 1000))
