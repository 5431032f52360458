"""The two-factor queries use their indexes, with custom and with generic plans.

A database of its own is seeded with 20k users, half of them with two-factor on (10 backup codes
each) and a sign-in challenge for every user with two-factor, then ANALYZEd. Each query's plan
(`EXPLAIN (FORMAT JSON)`, which does not run the statement) must name the index its file says and
hold no Seq Scan on these tables, both as bound by the app (a custom plan) and prepared with
`plan_cache_mode = force_generic_plan` (what asyncpg's statement cache ends up running).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from app.core.db import SQL_DIR
from app.core.security import hash_token
from tests.sql.conftest import MakeDatabase, migrated_connection
from tests.sql.test_query_plans import literal, nodes, ordered, query_sql

SEED_USERS = 20_000
BIG_TABLES = frozenset({"users", "user_mfa", "mfa_backup_codes", "mfa_challenges"})
PASSWORD_HASH = "$argon2id$v=19$m=8192,t=1,p=1$c2VlZHNlZWRzZWVk$0000000000000000000000000000000000000000000"

SEED = f"""
INSERT INTO users (id, email, username, password_hash)
SELECT gen_random_uuid(), 'mfa-' || n || '@plan.test', 'mfa_' || n, '{PASSWORD_HASH}'
FROM generate_series(1, {SEED_USERS}) AS n;

INSERT INTO user_mfa (user_id, secret_ciphertext, confirmed_at, last_used_step)
SELECT id, sha256(convert_to(id::text, 'UTF8')) || sha256(convert_to(email, 'UTF8')), now(), 1
FROM users
WHERE substring(email FROM '^mfa-([0-9]+)@')::int % 2 = 0;

INSERT INTO mfa_backup_codes (user_id, code_hash, used_at)
SELECT m.user_id, sha256(convert_to(m.user_id::text || k, 'UTF8')), CASE WHEN k = 1 THEN now() END
FROM user_mfa AS m
CROSS JOIN generate_series(1, 10) AS k;

INSERT INTO mfa_challenges (token_hash, user_id, login_name, max_attempts, expires_at, created_at)
SELECT sha256(convert_to('challenge' || m.user_id::text, 'UTF8')), m.user_id, 'someone', 5,
    now() + interval '5 minutes', now()
FROM user_mfa AS m;

ANALYZE users, user_mfa, mfa_backup_codes, mfa_challenges;
"""


@dataclass(frozen=True)
class Case:
    query: str
    params: dict[str, Any]
    indexes: tuple[str, ...]  # each must appear in the plan; "a|b" accepts either


@dataclass
class Seeded:
    user_id: uuid.UUID
    email: str
    challenge_hash: bytes
    code_hash: bytes


@pytest.fixture(scope="module")
async def conn(make_database: MakeDatabase) -> AsyncIterator[asyncpg.Connection[Any]]:
    async with migrated_connection(make_database, "mfa_plans", SEED) as connection:
        yield connection


@pytest.fixture(scope="module")
async def seeded(conn: asyncpg.Connection[Any]) -> Seeded:
    row = await conn.fetchrow(
        "SELECT u.id, u.email, c.token_hash, b.code_hash FROM users AS u"
        " JOIN mfa_challenges AS c ON c.user_id = u.id JOIN mfa_backup_codes AS b ON b.user_id = u.id"
        " WHERE u.email = 'mfa-12346@plan.test' AND b.used_at IS NULL LIMIT 1"
    )
    assert row is not None
    assert await conn.fetchval("SELECT count(*) FROM mfa_backup_codes") == SEED_USERS // 2 * 10
    return Seeded(row["id"], row["email"], bytes(row["token_hash"]), bytes(row["code_hash"]))


def cases(s: Seeded) -> dict[str, Case]:
    later = datetime.now(UTC) + timedelta(minutes=5)
    ciphertext = b"\x01" + b"\x00" * 60
    return {
        "get_credentials_by_login": Case(
            "get_credentials_by_login",
            {"login": s.email},
            ("users_email_lower_key", "users_username_lower_key", "user_mfa_pkey"),
        ),
        "get_mfa_state": Case("get_mfa_state", {"user_id": s.user_id}, ("users_pkey", "user_mfa_pkey")),
        "upsert_mfa_secret": Case(
            "upsert_mfa_secret", {"user_id": s.user_id, "secret_ciphertext": ciphertext}, ()
        ),
        "confirm_mfa": Case(
            "confirm_mfa",
            {"user_id": s.user_id, "secret_ciphertext": ciphertext, "step": 5},
            ("user_mfa_pkey",),
        ),
        "advance_mfa_step": Case("advance_mfa_step", {"user_id": s.user_id, "step": 5}, ("user_mfa_pkey",)),
        "replace_backup_codes": Case(
            "replace_backup_codes",
            {"user_id": s.user_id, "code_hashes": [hash_token("a"), hash_token("b")]},
            ("mfa_backup_codes_pkey",),
        ),
        "consume_backup_code": Case(
            "consume_backup_code",
            {"user_id": s.user_id, "code_hashes": [s.code_hash]},
            ("mfa_backup_codes_pkey",),
        ),
        "delete_user_mfa": Case(
            "delete_user_mfa", {"user_id": s.user_id}, ("user_mfa_pkey", "mfa_challenges_user_idx")
        ),
        "insert_mfa_challenge": Case(
            "insert_mfa_challenge",
            {
                "token_hash": hash_token("new challenge"),
                "user_id": s.user_id,
                "login_name": s.email,
                "max_attempts": 5,
                "user_agent": "pytest",
                "ip": "198.51.100.7",
                "expires_at": later,
            },
            ("mfa_challenges_user_idx",),
        ),
        "claim_mfa_attempt": Case(
            "claim_mfa_attempt",
            {"token_hash": s.challenge_hash},
            ("mfa_challenges_pkey", "users_pkey", "user_mfa_pkey"),
        ),
        "spend_mfa_challenge": Case(
            "spend_mfa_challenge", {"token_hash": s.challenge_hash}, ("mfa_challenges_pkey",)
        ),
        "delete_mfa_challenges": Case(
            "delete_mfa_challenges", {"user_id": s.user_id}, ("mfa_challenges_user_idx",)
        ),
    }


CASE_IDS = [
    "get_credentials_by_login",
    "get_mfa_state",
    "upsert_mfa_secret",
    "confirm_mfa",
    "advance_mfa_step",
    "replace_backup_codes",
    "consume_backup_code",
    "delete_user_mfa",
    "insert_mfa_challenge",
    "claim_mfa_attempt",
    "spend_mfa_challenge",
    "delete_mfa_challenges",
]


def _literal(value: Any) -> str:
    if isinstance(value, list):
        return "ARRAY[" + ", ".join(literal(item) for item in value) + "]::bytea[]"  # pyright: ignore[reportUnknownVariableType]
    return literal(value)


def _check(explained: str, case: Case, mode: str) -> None:
    seq_scans: set[str] = set()
    indexes: set[str] = set()
    for node in nodes(json.loads(explained)[0]["Plan"]):
        if node["Node Type"] == "Seq Scan":
            seq_scans.add(node["Relation Name"])
        if "Index Name" in node:
            indexes.add(node["Index Name"])
    bad = seq_scans & BIG_TABLES
    assert not bad, f"{case.query} ({mode}): Seq Scan on {sorted(bad)}"
    missing = [need for need in case.indexes if not set(need.split("|")) & indexes]
    assert not missing, f"{case.query} ({mode}): {missing} not used; plan used {sorted(indexes)}"


def test_every_two_factor_query_has_a_case(seeded: Seeded) -> None:
    assert sorted(cases(seeded)) == sorted(CASE_IDS)
    mfa_files = {
        path.stem
        for path in (SQL_DIR / "accounts").glob("*.sql")
        if "mfa" in path.stem or "backup_code" in path.stem
    }
    assert mfa_files <= set(CASE_IDS)


@pytest.mark.parametrize("case_id", CASE_IDS)
async def test_custom_plan(conn: asyncpg.Connection[Any], seeded: Seeded, case_id: str) -> None:
    case = cases(seeded)[case_id]
    explained = await conn.fetchval(
        f"EXPLAIN (FORMAT JSON) {query_sql(case.query)}", *ordered(case.query, case.params)
    )
    _check(explained, case, "custom plan")


@pytest.mark.parametrize("case_id", CASE_IDS)
async def test_generic_plan(conn: asyncpg.Connection[Any], seeded: Seeded, case_id: str) -> None:
    case = cases(seeded)[case_id]
    args = ", ".join(_literal(v) for v in ordered(case.query, case.params))
    transaction = conn.transaction()
    await transaction.start()
    try:
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await conn.execute(f"PREPARE mfa_plan_probe AS {query_sql(case.query)}")
        explained = await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE mfa_plan_probe({args})")
        _check(explained, case, "generic plan")
    finally:
        await transaction.rollback()
        # Prepared statements outlive the transaction (and asyncpg's own must be left alone).
        if await conn.fetchval("SELECT count(*) FROM pg_prepared_statements WHERE name = 'mfa_plan_probe'"):
            await conn.execute("DEALLOCATE mfa_plan_probe")
