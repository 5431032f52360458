"""The org queries use the indexes their files name, with custom and with generic plans.

A database of its own is seeded with 2,000 orgs (members, invitations, API keys, audit events),
one of them big, and ANALYZEd. Every query in sql/orgs has a case, so a new query without one
fails here. Mutating queries are explained, never run.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from app.core.db import SQL_DIR, sql
from app.migrate import apply_all
from tests.sql.conftest import MakeDatabase
from tests.sql.test_query_plans import literal

BIG_TABLES = frozenset({"orgs", "org_members", "org_invitations", "api_keys", "audit_events", "users"})
# (org_id, user_id) is unique in both the primary key and the user index: either serves a lookup.
MEMBER_KEY = "org_members_pkey|org_members_user_idx"
NIL = uuid.UUID(int=0)
MAX = uuid.UUID(int=(1 << 128) - 1)

SEED = """
INSERT INTO users (id, email, username, password_hash)
SELECT gen_random_uuid(), 'p' || n || '@plan.test', 'p_' || n, 'x' FROM generate_series(1, 5000) AS n;

INSERT INTO orgs (id, name, slug)
SELECT gen_random_uuid(), 'Org ' || n, 'org-' || n FROM generate_series(1, 2000) AS n;

-- Every user in a few orgs; org-1 has every user.
INSERT INTO org_members (org_id, user_id, role)
SELECT DISTINCT ON (o.id, u.id) o.id, u.id, (ARRAY['owner', 'admin', 'member', 'viewer'])[1 + (u.n % 4)]
FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM users) AS u
JOIN (SELECT id, row_number() OVER (ORDER BY slug) AS n FROM orgs) AS o
    ON o.n IN (1 + (u.n % 2000), 1 + ((u.n * 7) % 2000)) OR o.id = (SELECT id FROM orgs WHERE slug = 'org-1')
ON CONFLICT DO NOTHING;

INSERT INTO org_invitations (org_id, id, email, role, token_hash, expires_at)
SELECT o.id, gen_random_uuid(), 'inv' || g || '-' || o.slug || '@plan.test', 'member',
    sha256(convert_to(o.id::text || g, 'UTF8')), now() + interval '7 days'
FROM orgs AS o CROSS JOIN generate_series(1, 5) AS g;

INSERT INTO api_keys (org_id, id, prefix, secret_hash, name, role)
SELECT o.id, gen_random_uuid(), substr(translate(md5(o.id::text || g), '0189', 'wxyz'), 1, 12),
    sha256(convert_to(o.id::text || g, 'UTF8')), 'k', 'viewer'
FROM orgs AS o CROSS JOIN generate_series(1, 5) AS g;

INSERT INTO audit_events (org_id, id, actor_type, actor_id, action, target_type)
SELECT o.id, gen_random_uuid(), 'user', gen_random_uuid(),
    (ARRAY['org.updated', 'member.added', 'api_key.created'])[1 + g % 3], 'org'
FROM orgs AS o CROSS JOIN generate_series(1, 20) AS g;

-- One org with a long log: 30,000 events, 12 actions, 60 actors.
INSERT INTO audit_events (org_id, id, actor_type, actor_id, action, target_type)
SELECT (SELECT id FROM orgs WHERE slug = 'org-1'), gen_random_uuid(), 'user',
    ('00000000-0000-0000-0000-' || lpad((g % 60)::text, 12, '0'))::uuid,
    'action.n' || chr(97 + g % 12), 'org'
FROM generate_series(1, 30000) AS g;

ANALYZE users, orgs, org_members, org_invitations, api_keys, audit_events;
"""


@pytest.fixture(scope="module")
def plans_url(make_database: MakeDatabase) -> str:
    url = make_database("orgplans")
    apply_all(url)
    return url


@pytest.fixture(scope="module")
async def conn(plans_url: str) -> AsyncIterator[asyncpg.Connection[Any]]:
    connection: asyncpg.Connection[Any] = await asyncpg.connect(plans_url)
    try:
        await connection.execute(SEED)
        yield connection
    finally:
        await connection.close()


@pytest.fixture(scope="module")
async def values(conn: asyncpg.Connection[Any]) -> dict[str, Any]:
    async def one(query: str, *args: Any) -> asyncpg.Record:
        row = await conn.fetchrow(query, *args)
        assert row is not None, query
        return row

    org = await one("SELECT id FROM orgs WHERE slug = 'org-1'")
    member = await one("SELECT user_id FROM org_members WHERE org_id = $1 LIMIT 1", org["id"])
    user = await one("SELECT email FROM users WHERE id = $1", member["user_id"])
    key = await one("SELECT id, prefix FROM api_keys WHERE org_id = $1 LIMIT 1", org["id"])
    invitation = await one("SELECT id, token_hash FROM org_invitations WHERE org_id = $1 LIMIT 1", org["id"])
    return {
        "org_id": org["id"],
        "user_id": member["user_id"],
        "email": user["email"],
        "key_id": key["id"],
        "prefix": key["prefix"],
        "invitation_id": invitation["id"],
        "token_hash": invitation["token_hash"],
    }


def cases(v: dict[str, Any]) -> dict[str, tuple[dict[str, Any], tuple[str, ...]]]:
    """query name -> (parameters, indexes that must appear; `a|b` accepts either)."""
    now = datetime.now(UTC)
    org, user = v["org_id"], v["user_id"]
    page = {"limit": 21}
    return {
        "insert_org": ({"id": uuid.uuid4(), "name": "n", "slug": "new-slug", "created_by": user}, ()),
        "get_org": ({"org_id": org}, ("orgs_pkey",)),
        "lock_org": ({"org_id": org}, ("orgs_pkey",)),
        "update_org": (
            {"org_id": org, "set_name": True, "name": "n", "set_slug": False, "slug": None},
            ("orgs_pkey",),
        ),
        "soft_delete_org": ({"org_id": org}, ("orgs_pkey",)),
        "insert_member": ({"org_id": org, "user_id": user, "role": "member"}, ()),
        "get_membership": ({"org_id": org, "user_id": user}, (MEMBER_KEY, "orgs_pkey")),
        "get_member": ({"org_id": org, "user_id": user}, (MEMBER_KEY, "users_pkey")),
        "count_owners": ({"org_id": org}, ("org_members_owners_idx",)),
        "update_member_role": ({"org_id": org, "user_id": user, "role": "admin"}, (MEMBER_KEY,)),
        "delete_member": ({"org_id": org, "user_id": user}, (MEMBER_KEY,)),
        "list_members": ({"org_id": org, "after_user_id": NIL, **page}, ("org_members_pkey",)),
        "list_orgs_for_user": ({"user_id": user, "after_org_id": NIL, **page}, ("org_members_user_idx",)),
        "lock_orgs_owned_by": ({"user_id": user}, ("org_members_user_idx",)),
        "list_orgs_solely_owned_by": ({"user_id": user}, ("org_members_user_idx",)),
        "delete_memberships_of_user": ({"user_id": user}, ("org_members_user_idx",)),
        "is_member_by_email": ({"org_id": org, "email": v["email"]}, ("users_email_lower_key",)),
        "upsert_invitation": (
            {
                "org_id": org,
                "id": uuid.uuid4(),
                "email": "a@b.test",
                "role": "member",
                "token_hash": b"\x01" * 32,
                "invited_by": user,
                "expires_at": now,
            },
            (),
        ),
        "list_open_invitations": (
            {"org_id": org, "before_id": MAX, **page},
            ("org_invitations_pkey|org_invitations_open_email_key",),
        ),
        "revoke_invitation": ({"org_id": org, "id": v["invitation_id"]}, ("org_invitations_pkey",)),
        "accept_invitation": (
            {"token_hash": v["token_hash"], "user_id": user},
            ("org_invitations_token_key",),
        ),
        "insert_api_key": (
            {
                "org_id": org,
                "id": uuid.uuid4(),
                "prefix": "abcdefghijkl",
                "secret_hash": b"\x01" * 32,
                "name": "k",
                "role": "viewer",
                "created_by": user,
                "expires_at": None,
            },
            (),
        ),
        "list_api_keys": ({"org_id": org, "before_id": MAX, **page}, ("api_keys_pkey",)),
        "revoke_api_key": ({"org_id": org, "id": v["key_id"]}, ("api_keys_pkey",)),
        "revoke_org_api_keys": ({"org_id": org}, ("api_keys_pkey",)),
        "get_api_key_by_prefix": ({"prefix": v["prefix"]}, ("api_keys_prefix_key", "orgs_pkey")),
        "touch_api_keys": ({"org_ids": [org], "ids": [v["key_id"]], "used_at": [now]}, ("api_keys_pkey",)),
        "insert_audit_event": (
            {
                "org_id": org,
                "id": uuid.uuid4(),
                "actor_type": "user",
                "actor_id": user,
                "action": "org.updated",
                "target_type": "org",
                "target_id": None,
                "before": None,
                "after": None,
                "request_id": None,
                "ip": None,
            },
            (),
        ),
        "list_audit_events": (
            {"org_id": org, "lower_id": NIL, "upper_id": MAX, **page},
            ("audit_events_pkey",),
        ),
        "list_audit_events_by_action": (
            {"org_id": org, "action": "action.nb", "lower_id": NIL, "upper_id": MAX, **page},
            ("audit_events_org_action_idx",),
        ),
        "list_audit_events_by_actor": (
            {
                "org_id": org,
                "actor_id": uuid.UUID(int=7),
                "action": None,
                "lower_id": NIL,
                "upper_id": MAX,
                **page,
            },
            ("audit_events_org_actor_idx",),
        ),
    }


QUERY_NAMES = sorted(path.stem for path in (SQL_DIR / "orgs").glob("*.sql"))


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def check(explained: str, name: str, needed: tuple[str, ...], mode: str) -> None:
    root = json.loads(explained)[0]["Plan"]
    seq = {n["Relation Name"] for n in nodes(root) if n["Node Type"] == "Seq Scan"} & BIG_TABLES
    used = {n["Index Name"] for n in nodes(root) if "Index Name" in n}
    assert not seq, f"{name} ({mode}): Seq Scan on {sorted(seq)}"
    missing = [need for need in needed if not set(need.split("|")) & used]
    assert not missing, f"{name} ({mode}): {missing} not used; plan used {sorted(used)}"


def test_every_org_query_has_a_case() -> None:
    placeholder = dict.fromkeys(
        ["org_id", "user_id", "email", "key_id", "prefix", "invitation_id", "token_hash"]
    )
    assert sorted(cases(placeholder)) == QUERY_NAMES


@pytest.mark.parametrize("force_generic", [False, True], ids=["custom", "force_generic_plan"])
@pytest.mark.parametrize("name", QUERY_NAMES)
async def test_plan(
    conn: asyncpg.Connection[Any], values: dict[str, Any], name: str, force_generic: bool
) -> None:
    params, needed = cases(values)[name]
    query = getattr(sql().orgs, name).sql
    args = list(sql().driver_adapter.maybe_order_params(f"orgs.{name}", params))
    transaction = conn.transaction()
    await transaction.start()
    try:
        if force_generic:
            await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            await conn.execute(f"PREPARE org_plan_probe AS {query}")
            rendered = ", ".join(_render(value) for value in args)
            explained = await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE org_plan_probe({rendered})")
        else:
            explained = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {query}", *args)
        check(explained, name, needed, "generic" if force_generic else "custom")
    finally:
        await transaction.rollback()
        if await conn.fetchval("SELECT count(*) FROM pg_prepared_statements WHERE name = 'org_plan_probe'"):
            await conn.execute("DEALLOCATE org_plan_probe")


def _render(value: Any) -> str:
    if isinstance(value, list):
        items: list[Any] = value  # pyright: ignore[reportUnknownVariableType]
        element = "timestamptz" if isinstance(items[0], datetime) else "uuid"
        return "ARRAY[" + ", ".join(literal(item) for item in items) + f"]::{element}[]"
    return literal(value)
