"""The hot account queries use their indexes, with custom and with generic plans.

A database of its own is migrated and seeded with ~20k users (plus sessions, refresh tokens and
email tokens) and ANALYZEd; each query's plan is read with `EXPLAIN (FORMAT JSON)`:

- as the app runs it the first times (parameters bound: a custom plan),
- prepared and executed 6 times (after 5 runs PostgreSQL may switch to a generic plan), and
- with `SET LOCAL plan_cache_mode = force_generic_plan` (DESIGN.md §4: what asyncpg's statement
  cache ends up running).

No plan may contain a Seq Scan on a large account table, and each names the index its file says.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from app.core.db import sql
from app.core.security import hash_token
from tests.sql.conftest import MakeDatabase, migrated_connection

SEED_USERS = 20_000
HEAVY_USERS = 3  # each with many sessions, for the session list
HEAVY_SESSIONS = 60
BIG_TABLES = frozenset({"users", "auth_sessions", "refresh_tokens", "email_tokens"})
PASSWORD_HASH = "$argon2id$v=19$m=8192,t=1,p=1$c2VlZHNlZWRzZWVk$0000000000000000000000000000000000000000000"

SEED = f"""
INSERT INTO users (id, email, username, password_hash, email_verified_at, deleted_at)
SELECT gen_random_uuid(), 'seed-' || n || '@plan.test', 'seed_' || n, '{PASSWORD_HASH}',
    CASE WHEN n % 3 = 0 THEN now() END,
    CASE WHEN n % 50 = 0 THEN now() END
FROM generate_series(1, {SEED_USERS}) AS n;

-- One session per user (half of them revoked), many for the first few users.
INSERT INTO auth_sessions (id, user_id, user_agent, ip, expires_at, revoked_at, revoked_reason)
SELECT gen_random_uuid(), u.id, 'seed-agent', '192.0.2.1', now() + interval '30 days',
    CASE WHEN (u.n + g.k) % 2 = 1 THEN now() END, CASE WHEN (u.n + g.k) % 2 = 1 THEN 'logout' END
FROM (SELECT id, substring(email FROM '^seed-([0-9]+)@')::int AS n FROM users) AS u
CROSS JOIN LATERAL
    generate_series(1, CASE WHEN u.n <= {HEAVY_USERS} THEN {HEAVY_SESSIONS} ELSE 1 END) AS g (k);

INSERT INTO refresh_tokens (token_hash, session_id, used_at)
SELECT sha256(convert_to(s.id::text, 'UTF8')), s.id, CASE WHEN s.revoked_at IS NOT NULL THEN now() END
FROM auth_sessions AS s;

INSERT INTO email_tokens (token_hash, user_id, purpose, email, expires_at, used_at)
SELECT sha256(convert_to(u.id::text || p.purpose, 'UTF8')), u.id, p.purpose, u.email,
    now() + interval '1 day', CASE WHEN p.purpose = 'password_reset' THEN now() END
FROM users AS u
CROSS JOIN (VALUES ('verify_email'), ('password_reset')) AS p (purpose);

ANALYZE users, auth_sessions, refresh_tokens, email_tokens;
"""


@dataclass
class Seeded:
    """Realistic parameter values taken from the seeded rows."""

    user_id: uuid.UUID
    email: str
    username: str
    heavy_user_id: uuid.UUID
    session_id: uuid.UUID
    middle_session_id: uuid.UUID
    live_token_hash: bytes
    spent_token_hash: bytes
    email_token_hash: bytes
    counts: dict[str, int]


@pytest.fixture(scope="module")
async def conn(make_database: MakeDatabase) -> AsyncIterator[asyncpg.Connection[Any]]:
    async with migrated_connection(make_database, "plans", SEED) as connection:
        yield connection


@pytest.fixture(scope="module")
async def seeded(conn: asyncpg.Connection[Any]) -> Seeded:
    user = await conn.fetchrow("SELECT id, email, username FROM users WHERE email = 'seed-12345@plan.test'")
    assert user is not None
    heavy = await conn.fetchval("SELECT id FROM users WHERE email = 'seed-1@plan.test'")
    session = await conn.fetchrow(
        "SELECT s.id, t.token_hash FROM auth_sessions AS s JOIN refresh_tokens AS t ON t.session_id = s.id"
        " WHERE s.user_id = $1 AND s.revoked_at IS NULL",
        user["id"],
    )
    spent = await conn.fetchval("SELECT token_hash FROM refresh_tokens WHERE used_at IS NOT NULL LIMIT 1")
    middle = await conn.fetchval(
        "SELECT id FROM auth_sessions WHERE user_id = $1 AND revoked_at IS NULL"
        " ORDER BY id DESC OFFSET 10 LIMIT 1",
        heavy,
    )
    assert session is not None
    email_token = await conn.fetchval(
        "SELECT token_hash FROM email_tokens WHERE user_id = $1 AND purpose = 'verify_email'", user["id"]
    )
    counts = {table: await conn.fetchval(f"SELECT count(*) FROM {table}") for table in sorted(BIG_TABLES)}
    assert None not in (heavy, spent, middle, email_token)
    return Seeded(
        user_id=user["id"],
        email=user["email"],
        username=user["username"],
        heavy_user_id=heavy,
        session_id=session["id"],
        middle_session_id=middle,
        live_token_hash=session["token_hash"],
        spent_token_hash=spent,
        email_token_hash=email_token,
        counts=counts,
    )


@dataclass(frozen=True)
class Case:
    query: str
    params: dict[str, Any]
    # Each entry must appear in the plan; "a|b" accepts either index.
    indexes: tuple[str, ...]
    label: str = ""

    @property
    def id(self) -> str:
        return f"{self.query}{'-' + self.label if self.label else ''}"


def cases(s: Seeded) -> list[Case]:
    later = datetime.now(UTC) + timedelta(days=30)
    new_hash = hash_token("a new refresh token")
    return [
        Case("get_user", {"id": s.user_id}, ("users_pkey",)),
        Case("get_public_user", {"id": s.user_id}, ("users_pkey",)),
        Case("get_credentials_by_id", {"id": s.user_id}, ("users_pkey",)),
        Case(
            "get_credentials_by_login",
            {"login": s.email.upper()},
            ("users_email_lower_key", "users_username_lower_key"),
            "email",
        ),
        Case(
            "get_credentials_by_login",
            {"login": s.username},
            ("users_email_lower_key", "users_username_lower_key"),
            "username",
        ),
        Case("get_user_by_email", {"email": s.email}, ("users_email_lower_key",)),
        Case(
            "list_active_sessions",
            {"user_id": s.heavy_user_id, "after_id": None, "limit": 21},
            ("auth_sessions_user_active_idx",),
            "first-page",
        ),
        Case(
            "list_active_sessions",
            {"user_id": s.heavy_user_id, "after_id": s.middle_session_id, "limit": 21},
            ("auth_sessions_user_active_idx",),
            "next-page",
        ),
        Case(
            "is_session_active",
            {"id": s.session_id, "user_id": s.user_id},
            ("auth_sessions_pkey|auth_sessions_user_active_idx", "users_pkey"),
        ),
        Case(
            "rotate_refresh_token",
            {
                "old_hash": s.live_token_hash,
                "new_hash": new_hash,
                "expires_at": later,
                "user_agent": "pytest",
                "ip": "198.51.100.7",
            },
            ("refresh_tokens_pkey", "auth_sessions_pkey", "users_pkey"),
        ),
        Case(
            "revoke_session_of_spent_token",
            {"token_hash": s.spent_token_hash},
            ("refresh_tokens_pkey", "auth_sessions_pkey"),
        ),
        Case(
            "revoke_session",
            {"id": s.session_id, "user_id": s.user_id, "reason": "logout"},
            ("auth_sessions_pkey|auth_sessions_user_active_idx",),
        ),
        Case(
            "revoke_user_sessions",
            {"user_id": s.heavy_user_id, "reason": "password_changed", "keep_id": s.middle_session_id},
            ("auth_sessions_user_active_idx",),
        ),
        Case(
            "consume_email_token",
            {"token_hash": s.email_token_hash, "purpose": "verify_email"},
            ("email_tokens_pkey",),
        ),
        Case(
            "get_valid_email_token",
            {"token_hash": s.email_token_hash, "purpose": "verify_email"},
            ("email_tokens_pkey",),
        ),
        Case(
            "invalidate_email_tokens",
            {"user_id": s.user_id, "purpose": "verify_email"},
            ("email_tokens_user_purpose_idx",),
        ),
        Case(
            "mark_email_verified",
            {"id": s.user_id, "email": s.email},
            ("users_pkey|users_email_lower_key",),  # both are unique; the planner may pick either
        ),
        Case("update_password_hash", {"id": s.user_id, "password_hash": PASSWORD_HASH}, ("users_pkey",)),
        Case("soft_delete_user", {"id": s.user_id}, ("users_pkey",)),
        Case(
            "update_profile",
            {
                "id": s.user_id,
                "set_display_name": True,
                "display_name": "Plan",
                "set_bio": False,
                "bio": None,
                "set_avatar_url": False,
                "avatar_url": None,
                "set_locale": False,
                "locale": None,
            },
            ("users_pkey",),
        ),
    ]


# Case ids at collection time (the parameter values only exist once the database is seeded).
CASE_IDS = [
    "get_user",
    "get_public_user",
    "get_credentials_by_id",
    "get_credentials_by_login-email",
    "get_credentials_by_login-username",
    "get_user_by_email",
    "list_active_sessions-first-page",
    "list_active_sessions-next-page",
    "is_session_active",
    "rotate_refresh_token",
    "revoke_session_of_spent_token",
    "revoke_session",
    "revoke_user_sessions",
    "consume_email_token",
    "get_valid_email_token",
    "invalidate_email_tokens",
    "mark_email_verified",
    "update_password_hash",
    "soft_delete_user",
    "update_profile",
]


def query_sql(name: str) -> str:
    """The query as asyncpg receives it: aiosql's text with $n parameters."""
    return getattr(sql().accounts, name).sql


def ordered(name: str, params: dict[str, Any]) -> list[Any]:
    """The parameter values in aiosql's $n order for the query."""
    return list(sql().driver_adapter.maybe_order_params(f"accounts.{name}", params))


def literal(value: Any) -> str:
    """A SQL literal for EXECUTE's arguments (which cannot be bound parameters)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return f"'\\x{value.hex()}'"
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text.replace("'", "''") + "'"


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


@dataclass
class PlanCheck:
    seq_scans: set[str]
    indexes: set[str]

    @classmethod
    def of(cls, explained: str) -> PlanCheck:
        root = json.loads(explained)[0]["Plan"]
        seq_scans: set[str] = set()
        indexes: set[str] = set()
        for node in nodes(root):
            if node["Node Type"] == "Seq Scan":
                seq_scans.add(node["Relation Name"])
            if "Index Name" in node:
                indexes.add(node["Index Name"])
        return cls(seq_scans, indexes)

    def assert_good(self, case: Case, mode: str) -> None:
        bad = self.seq_scans & BIG_TABLES
        assert not bad, f"{case.id} ({mode}): Seq Scan on {sorted(bad)}"
        missing = [need for need in case.indexes if not set(need.split("|")) & self.indexes]
        assert not missing, (
            f"{case.id} ({mode}): {sorted(missing)} not used; plan used {sorted(self.indexes)}"
        )


def case_by_id(seeded: Seeded, case_id: str) -> Case:
    found = [case for case in cases(seeded) if case.id == case_id]
    assert len(found) == 1, case_id
    return found[0]


def test_case_ids_match_the_cases(seeded: Seeded) -> None:
    assert [case.id for case in cases(seeded)] == CASE_IDS


def test_the_seed_is_big_enough(seeded: Seeded) -> None:
    assert seeded.counts["users"] == SEED_USERS
    assert seeded.counts["auth_sessions"] >= SEED_USERS
    assert seeded.counts["refresh_tokens"] == seeded.counts["auth_sessions"]
    assert seeded.counts["email_tokens"] == 2 * SEED_USERS


async def test_a_seq_scan_is_detected(conn: asyncpg.Connection[Any]) -> None:
    """The check bites: a filter no index serves gives a Seq Scan on users."""
    explained = await conn.fetchval(
        "EXPLAIN (FORMAT JSON) SELECT id FROM users WHERE password_hash = $1", PASSWORD_HASH
    )
    check = PlanCheck.of(explained)
    assert "users" in check.seq_scans
    with pytest.raises(AssertionError, match="Seq Scan on"):
        check.assert_good(Case("probe", {}, ()), "custom")


@pytest.mark.parametrize("case_id", CASE_IDS)
async def test_custom_plan(conn: asyncpg.Connection[Any], seeded: Seeded, case_id: str) -> None:
    case = case_by_id(seeded, case_id)
    explained = await conn.fetchval(
        f"EXPLAIN (FORMAT JSON) {query_sql(case.query)}", *ordered(case.query, case.params)
    )
    PlanCheck.of(explained).assert_good(case, "custom plan")


@pytest.mark.parametrize("force_generic", [False, True], ids=["auto", "force_generic_plan"])
@pytest.mark.parametrize("case_id", CASE_IDS)
async def test_prepared_plan(
    conn: asyncpg.Connection[Any], seeded: Seeded, case_id: str, force_generic: bool
) -> None:
    case = case_by_id(seeded, case_id)
    args = ", ".join(literal(v) for v in ordered(case.query, case.params))
    transaction = conn.transaction()
    await transaction.start()
    try:
        if force_generic:
            await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await conn.execute(f"PREPARE plan_probe AS {query_sql(case.query)}")
        for run in range(6):
            explained = await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE plan_probe({args})")
            PlanCheck.of(explained).assert_good(
                case, f"{'generic' if force_generic else 'auto'} run {run + 1}"
            )
        counts = await conn.fetchrow(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = 'plan_probe'"
        )
        assert counts is not None
        generic, custom = counts["generic_plans"], counts["custom_plans"]
        if force_generic:
            assert (generic, custom) == (6, 0)
        else:
            assert generic + custom == 6
    finally:
        await transaction.rollback()
        # Prepared statements outlive the transaction (and asyncpg's own must be left alone).
        if await conn.fetchval("SELECT count(*) FROM pg_prepared_statements WHERE name = 'plan_probe'"):
            await conn.execute("DEALLOCATE plan_probe")
