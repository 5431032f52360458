"""The idempotency-key queries use their indexes on a big table, with custom and generic plans.

A database of its own holds 200k stored responses (a tenth of them expired), ANALYZEd; each
query's plan must name the index its file says and hold no Seq Scan of `idempotency_keys`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from app.core.db import SQL_DIR, sql
from tests.sql.conftest import MakeDatabase, migrated_connection
from tests.sql.test_query_plans import literal, nodes

ROWS = 200_000
SEED = f"""
INSERT INTO idempotency_keys (
    caller, idempotency_key, request_hash, method, path, status_code, response_body, created_at, expires_at
)
SELECT 'user:' || md5((n % 5000)::text)::uuid, 'key-' || n, sha256(convert_to(n::text, 'UTF8')), 'POST',
    '/orgs', 201, '\\x00'::bytea, now() - interval '2 days',
    now() + CASE WHEN n % 10 = 0 THEN interval '-1 hour' ELSE interval '20 hours' END
FROM generate_series(1, {ROWS}) AS n;
ANALYZE idempotency_keys;
"""
CALLER = "user:" + "c4ca4238-a0b9-2382-0dcc-509a6f75849b"  # md5('1') as a uuid
CASES: dict[str, tuple[dict[str, Any], str]] = {
    "get_idempotency_key": ({"caller": CALLER, "idempotency_key": "key-5001"}, "idempotency_keys_pkey"),
    "delete_expired_idempotency_keys": ({}, "idempotency_keys_expires_idx"),
}


@pytest.fixture(scope="module")
async def conn(make_database: MakeDatabase) -> AsyncIterator[asyncpg.Connection[Any]]:
    async with migrated_connection(make_database, "idempotency_plans", SEED) as connection:
        yield connection


def _query(name: str) -> str:
    return getattr(sql().idempotency, name).sql


def _args(name: str, params: dict[str, Any]) -> list[Any]:
    return list(sql().driver_adapter.maybe_order_params(f"idempotency.{name}", params))


def _check(explained: str, name: str, index: str, mode: str) -> None:
    plan = list(nodes(json.loads(explained)[0]["Plan"]))
    scanned = {node["Relation Name"] for node in plan if node["Node Type"] == "Seq Scan"}
    assert "idempotency_keys" not in scanned, f"{name} ({mode}): Seq Scan on idempotency_keys"
    used = {node["Index Name"] for node in plan if "Index Name" in node}
    assert index in used, f"{name} ({mode}): {index} not used; plan used {sorted(used)}"


def test_every_query_that_searches_the_table_has_a_case() -> None:
    # The lock reads no table; the insert finds its conflict through the primary key by definition.
    searching = {path.stem for path in (SQL_DIR / "idempotency").glob("*.sql")} - {
        "lock_idempotency_key",
        "insert_idempotency_key",
    }
    assert searching == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
async def test_custom_plan(conn: asyncpg.Connection[Any], name: str) -> None:
    params, index = CASES[name]
    explained = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {_query(name)}", *_args(name, params))
    _check(explained, name, index, "custom plan")


@pytest.mark.parametrize("name", sorted(CASES))
async def test_generic_plan(conn: asyncpg.Connection[Any], name: str) -> None:
    params, index = CASES[name]
    arguments = _args(name, params)
    async with conn.transaction():
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await conn.execute(f"PREPARE idempotency_probe AS {_query(name)}")
        try:
            call = (
                f"EXECUTE idempotency_probe({', '.join(literal(v) for v in arguments)})"
                if arguments
                else ("EXECUTE idempotency_probe")
            )
            _check(await conn.fetchval(f"EXPLAIN (FORMAT JSON) {call}"), name, index, "generic plan")
        finally:
            await conn.execute("DEALLOCATE idempotency_probe")
