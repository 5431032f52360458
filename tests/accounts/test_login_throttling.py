"""The login throttle on the sign-in routes: a credential-stuffing burst from one address ends in
429 whatever the accounts, wrong second-factor codes count as failed sign-ins of the account,
and only a complete sign-in (after the second factor) clears the account's count.

Each test runs a fresh app with small thresholds and Redis keys of its own; the client sits
behind one trusted proxy, so X-Forwarded-For says which address a request comes from.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from app.core.config import Settings
from app.main import create_app
from tests.accounts.mfa_helpers import answer, code_for, enable_mfa, start_challenge, wrong_code
from tests.factories import DEFAULT_PASSWORD, Client, expect_data, expect_problem, signed_in_user, unique

ACCOUNT_LOCKOUT = 3
IP_LOCKOUT = 5


def _address() -> str:
    return f"198.51.100.{secrets.randbelow(254) + 1}"


@pytest.fixture
async def throttled(make_settings: Callable[..., Settings]) -> AsyncIterator[Client]:
    settings = make_settings(
        rate_limit_key_prefix=f"test-throttle-{secrets.token_hex(6)}:",
        rate_limit_trusted_proxy_hops="1",
        login_lockout_after_failures=str(ACCOUNT_LOCKOUT),
        login_ip_lockout_after_failures=str(IP_LOCKOUT),
        login_failures_before_delay="0",
        login_delay_base_seconds="0",
        mfa_challenge_max_attempts="10",
    )
    async with AsyncTestClient(create_app(settings)) as client:
        yield client


async def _login(client: Client, login: str, password: str, ip: str) -> httpx.Response:
    return await client.post(
        "/auth/login", json={"login": login, "password": password}, headers={"X-Forwarded-For": ip}
    )


def _shape(response: httpx.Response) -> tuple[Any, ...]:
    body = response.json()
    return (
        response.status_code,
        body["code"],
        body["detail"],
        tuple(sorted(body)),
        response.headers["content-type"],
    )


async def test_a_credential_stuffing_burst_from_one_address_gets_429(throttled: Client) -> None:
    existing = [await signed_in_user(throttled) for _ in range(4)]
    logins = [
        login
        for user in existing
        for login in (user.email, f"{unique('nobody')}@example.com")  # known and unknown, interleaved
    ]
    attacker = _address()

    answers = [await _login(throttled, login, "password123-guess", attacker) for login in logins]

    for response in answers[:IP_LOCKOUT]:
        expect_problem(response, 401, "INVALID_CREDENTIALS")
    refused = answers[IP_LOCKOUT:]
    assert refused
    for response in refused:
        expect_problem(response, 429, "RATE_LIMITED")
        assert int(response.headers["retry-after"]) > 0
    # Known and unknown accounts get the same answer.
    assert len({_shape(response) for response in refused}) == 1
    # Even the right password is refused from that address, while another address signs in.
    right_password = await _login(throttled, existing[0].email, existing[0].password, attacker)
    expect_problem(right_password, 429, "RATE_LIMITED")
    expect_data(await _login(throttled, existing[0].email, existing[0].password, _address()))


async def test_an_unknown_account_is_locked_out_like_a_known_one(throttled: Client) -> None:
    known = await signed_in_user(throttled)
    unknown = f"{unique('ghost')}@example.com"

    shapes: list[list[tuple[Any, ...]]] = []
    for login in (known.email, unknown):
        answers = [
            await _login(throttled, login, "wrong-password-1", _address()) for _ in range(ACCOUNT_LOCKOUT + 1)
        ]
        shapes.append([_shape(response) for response in answers])

    assert shapes[0] == shapes[1]
    assert [shape[0] for shape in shapes[0]] == [401] * ACCOUNT_LOCKOUT + [429]


async def test_wrong_second_factor_codes_count_as_failed_sign_ins(throttled: Client) -> None:
    mfa = await enable_mfa(throttled, await signed_in_user(throttled))
    ip = _address()
    # The sign-in with the right password counts as an attempt until its second factor is given.
    challenge = await start_challenge(throttled, mfa.user, headers={"X-Forwarded-For": ip})

    wrong = [await answer(throttled, challenge, wrong_code(mfa.secret)) for _ in range(ACCOUNT_LOCKOUT - 1)]
    right = await answer(throttled, challenge, code_for(mfa.secret, steps_ahead=1))
    password = await _login(throttled, mfa.user.email, mfa.user.password, _address())

    for response in wrong:
        expect_problem(response, 401, "INVALID_MFA_CODE")
    expect_problem(right, 429, "RATE_LIMITED")
    expect_problem(password, 429, "RATE_LIMITED")


async def test_only_a_complete_sign_in_clears_the_account_count(throttled: Client) -> None:
    mfa = await enable_mfa(throttled, await signed_in_user(throttled))
    email = mfa.user.email

    for _ in range(ACCOUNT_LOCKOUT - 2):
        expect_problem(
            await _login(throttled, email, "wrong-password-2", _address()), 401, "INVALID_CREDENTIALS"
        )
    # The right password alone (a challenge) does not clear the count: it counts itself...
    challenge = await start_challenge(throttled, mfa.user)
    expect_problem(await answer(throttled, challenge, wrong_code(mfa.secret)), 401, "INVALID_MFA_CODE")
    expect_problem(await _login(throttled, email, DEFAULT_PASSWORD, _address()), 429, "RATE_LIMITED")


async def test_a_complete_sign_in_with_a_second_factor_clears_the_account_count(throttled: Client) -> None:
    mfa = await enable_mfa(throttled, await signed_in_user(throttled))
    challenge = await start_challenge(throttled, mfa.user)  # an attempt until the code is right
    for _ in range(ACCOUNT_LOCKOUT - 2):
        expect_problem(await answer(throttled, challenge, wrong_code(mfa.secret)), 401, "INVALID_MFA_CODE")

    expect_data(await answer(throttled, challenge, mfa.backup_codes[0]))

    # The count starts over: as many failures again are allowed before the lockout.
    again = await start_challenge(throttled, mfa.user)
    for _ in range(ACCOUNT_LOCKOUT - 2):
        expect_problem(await answer(throttled, again, wrong_code(mfa.secret)), 401, "INVALID_MFA_CODE")
    expect_data(await answer(throttled, again, mfa.backup_codes[1]))


async def test_a_new_sign_in_ends_the_earlier_challenge(throttled: Client) -> None:
    """One live challenge per user: codes cannot be guessed on many challenges at once."""
    mfa = await enable_mfa(throttled, await signed_in_user(throttled))
    first = await start_challenge(throttled, mfa.user)
    second = await start_challenge(throttled, mfa.user)
    expect_problem(await answer(throttled, first, code_for(mfa.secret, steps_ahead=1)), 401, "INVALID_TOKEN")
    expect_data(await answer(throttled, second, code_for(mfa.secret, steps_ahead=1)))
