"""POST /auth/register: the account it creates, what it stores, validation, policy, uniqueness."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from argon2 import PasswordHasher

from tests.factories import (
    DEFAULT_PASSWORD,
    OWNER_FIELDS,
    Client,
    emailed_token,
    expect_data,
    expect_problem,
    new_account,
    register,
    token_digest,
    unique,
)


async def test_register_returns_201_with_the_owner_profile(client: Client) -> None:
    body = new_account(display_name="Ada Lovelace", locale="pt-BR")

    data = expect_data(await client.post("/auth/register", json=body), 201)

    assert set(data) == OWNER_FIELDS
    assert data["email"] == body["email"]
    assert data["username"] == body["username"]
    assert data["display_name"] == "Ada Lovelace"
    assert data["locale"] == "pt-BR"
    assert data["email_verified"] is False
    assert data["bio"] is None
    assert data["avatar_url"] is None
    assert UUID(data["id"]).version == 7


async def test_register_defaults_locale_to_en_and_display_name_to_null(client: Client) -> None:
    data = expect_data(await client.post("/auth/register", json=new_account()), 201)

    assert data["locale"] == "en"
    assert data["display_name"] is None


async def test_register_stores_an_argon2id_hash_never_the_password(
    client: Client, db: asyncpg.Pool[Any]
) -> None:
    account = await register(client)

    stored = await db.fetchval("SELECT password_hash FROM users WHERE id = $1", UUID(account["id"]))

    assert stored.startswith("$argon2id$")
    assert DEFAULT_PASSWORD not in stored
    assert PasswordHasher().verify(stored, DEFAULT_PASSWORD)


async def test_register_queues_one_verification_email(client: Client, db: asyncpg.Pool[Any]) -> None:
    account = await register(client)

    emails = await db.fetch(
        "SELECT template, to_address FROM email_outbox WHERE user_id = $1", UUID(account["id"])
    )

    assert [(e["template"], e["to_address"]) for e in emails] == [("verify_email", account["email"])]


async def test_register_stores_only_the_digest_of_the_verification_token(
    client: Client, db: asyncpg.Pool[Any]
) -> None:
    account = await register(client)
    token = await emailed_token(db, account["email"], "verify_email")

    row = await db.fetchrow(
        "SELECT token_hash, purpose, email, expires_at, used_at, t::text AS as_text"
        " FROM email_tokens AS t WHERE user_id = $1",
        UUID(account["id"]),
    )

    assert row is not None
    assert row["token_hash"] == token_digest(token)
    assert token not in row["as_text"]
    assert token.encode() not in row["token_hash"]
    assert row["purpose"] == "verify_email"
    assert row["email"] == account["email"]
    assert row["used_at"] is None
    expected_expiry = datetime.now(UTC) + timedelta(hours=48)
    assert abs(row["expires_at"] - expected_expiry) < timedelta(minutes=1)


# ---- validation -----------------------------------------------------------------------------

INVALID_VALUES = [
    ("email", "not-an-email"),
    ("email", "ada@localhost"),
    ("email", "ada lovelace@example.com"),
    ("email", "a" * 243 + "@example.com"),  # 255 characters
    ("email", "ada\x00@example.com"),
    ("email", None),
    ("email", 42),
    ("username", "ab"),
    ("username", "a" * 33),
    ("username", "has-dash"),
    ("username", "h\u00e9llo_world"),
    ("username", "nul\x00name"),
    ("password", "x" * 9),
    ("password", "x" * 129),
    ("password", "nul\x00password"),
    ("password", None),
    ("display_name", ""),
    ("display_name", "x" * 101),
    ("display_name", "a\x00b"),
    ("locale", "english!"),
    ("locale", "e"),
    ("locale", None),
]


@pytest.mark.parametrize(
    ("field", "value"), INVALID_VALUES, ids=[f"{f}={v!r}"[:40] for f, v in INVALID_VALUES]
)
async def test_register_rejects_an_invalid_value_with_its_path(
    client: Client, field: str, value: object
) -> None:
    body = new_account(**{field: value})

    response = await client.post("/auth/register", json=body)

    expect_problem(response, 422, "VALIDATION_ERROR", path=f"$.{field}")


@pytest.mark.parametrize("field", ["email", "username", "password"])
async def test_register_requires_field(client: Client, field: str) -> None:
    body = new_account()
    del body[field]

    problem = expect_problem(await client.post("/auth/register", json=body), 422, "VALIDATION_ERROR")

    assert problem["errors"][0]["path"] == "$"
    assert f"`{field}`" in problem["errors"][0]["message"]


async def test_register_rejects_unknown_fields_and_creates_nothing(
    client: Client, db: asyncpg.Pool[Any]
) -> None:
    body = new_account(is_admin=True)

    problem = expect_problem(
        await client.post("/auth/register", json=body), 422, "VALIDATION_ERROR", path="$"
    )

    assert "is_admin" in problem["errors"][0]["message"]
    assert await db.fetchval("SELECT count(*) FROM users WHERE email = $1", body["email"]) == 0


@pytest.mark.parametrize("length", [10, 128])
async def test_register_accepts_password_length_at_the_bounds(client: Client, length: int) -> None:
    password = ("Tr0ub4dor&3" * 12)[:length]

    response = await client.post("/auth/register", json=new_account(password=password))

    expect_data(response, 201)
    assert password not in response.text


# ---- password policy ------------------------------------------------------------------------


def _account_with_distinct_names() -> dict[str, Any]:
    """An account whose username and email local part differ and are both >= 10 characters."""
    return new_account(email=f"{unique('mailbox')}@example.com", username=unique("handle"))


async def test_register_rejects_password_equal_to_email_in_other_case(client: Client) -> None:
    body = _account_with_distinct_names()
    body["password"] = body["email"].upper()

    response = await client.post("/auth/register", json=body)

    expect_problem(response, 422, "WEAK_PASSWORD", path="$.password")


async def test_register_rejects_password_equal_to_username_in_other_case(client: Client) -> None:
    body = _account_with_distinct_names()
    body["password"] = body["username"].upper()

    response = await client.post("/auth/register", json=body)

    expect_problem(response, 422, "WEAK_PASSWORD", path="$.password")


async def test_register_rejects_password_equal_to_email_local_part(client: Client) -> None:
    body = _account_with_distinct_names()
    body["password"] = body["email"].split("@")[0].title()

    response = await client.post("/auth/register", json=body)

    expect_problem(response, 422, "WEAK_PASSWORD", path="$.password")


async def test_register_rejects_blank_password(client: Client) -> None:
    response = await client.post("/auth/register", json=new_account(password=" " * 12))

    expect_problem(response, 422, "VALIDATION_ERROR", path="$.password")


async def test_register_weak_password_creates_no_account(client: Client, db: asyncpg.Pool[Any]) -> None:
    body = _account_with_distinct_names()
    body["password"] = body["username"]

    expect_problem(await client.post("/auth/register", json=body), 422, "WEAK_PASSWORD")

    assert await db.fetchval("SELECT count(*) FROM users WHERE email = $1", body["email"]) == 0


# ---- uniqueness -----------------------------------------------------------------------------


async def test_register_rejects_taken_email_regardless_of_case(client: Client) -> None:
    taken = await register(client)

    response = await client.post("/auth/register", json=new_account(email=taken["email"].upper()))

    expect_problem(response, 409, "EMAIL_TAKEN", path="$.email")


async def test_register_rejects_taken_username_regardless_of_case(client: Client) -> None:
    taken = await register(client)

    response = await client.post("/auth/register", json=new_account(username=taken["username"].upper()))

    expect_problem(response, 409, "USERNAME_TAKEN", path="$.username")


async def test_concurrent_identical_registrations_create_exactly_one_account(
    client: Client, db: asyncpg.Pool[Any]
) -> None:
    body = new_account()

    responses = await asyncio.gather(*(client.post("/auth/register", json=body) for _ in range(6)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409, 409, 409, 409, 409]
    for response in (r for r in responses if r.status_code == 409):
        assert response.json()["code"] in {"EMAIL_TAKEN", "USERNAME_TAKEN"}
    assert await db.fetchval("SELECT count(*) FROM users WHERE email = $1", body["email"]) == 1


async def test_concurrent_registrations_of_one_email_in_mixed_case_yield_email_taken(
    client: Client,
) -> None:
    email = f"{unique()}@example.com"
    bodies = [new_account(email=email), new_account(email=email.upper()), new_account(email=email.title())]

    responses = await asyncio.gather(*(client.post("/auth/register", json=b) for b in bodies))

    assert sorted(r.status_code for r in responses) == [201, 409, 409]
    for response in (r for r in responses if r.status_code == 409):
        expect_problem(response, 409, "EMAIL_TAKEN", path="$.email")


async def test_concurrent_registrations_of_one_username_yield_username_taken(client: Client) -> None:
    name = unique()
    bodies = [new_account(username=name), new_account(username=name.upper()), new_account(username=name)]

    responses = await asyncio.gather(*(client.post("/auth/register", json=b) for b in bodies))

    assert sorted(r.status_code for r in responses) == [201, 409, 409]
    for response in (r for r in responses if r.status_code == 409):
        expect_problem(response, 409, "USERNAME_TAKEN", path="$.username")


# ---- known bugs -----------------------------------------------------------------------------


async def test_register_rejects_username_with_trailing_newline(client: Client) -> None:
    response = await client.post("/auth/register", json=new_account(username=f"{unique()}\n"))

    expect_problem(response, 422, "VALIDATION_ERROR", path="$.username")


async def test_register_rejects_email_with_trailing_newline(client: Client) -> None:
    taken = await register(client)

    response = await client.post("/auth/register", json=new_account(email=f"{taken['email']}\n"))

    expect_problem(response, 422, "VALIDATION_ERROR", path="$.email")
