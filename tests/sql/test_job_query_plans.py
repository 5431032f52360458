"""The job-queue and inbound-event queries use the indexes their files name, on a big queue.

A database of its own holds 200,000 jobs (94 % succeeded over 20 days, the rest queued, running
and dead) and 100,000 inbound events; each query's plan is read with a custom plan and with
`force_generic_plan` (what asyncpg's statement cache ends up running). No Seq Scan of either
table, and every index the case names is used.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from app.core.db import sql
from app.core.ids import first_id_at
from tests.sql.conftest import MakeDatabase, migrated_connection
from tests.sql.test_query_plans import Case, PlanCheck, literal

BIG_TABLES = frozenset({"jobs", "inbound_events"})
TOP = uuid.UUID(int=(1 << 128) - 1)
SEED = """
INSERT INTO jobs (id, kind, payload, state, attempts, max_attempts, run_at, finished_at,
    lease_token, leased_by, lease_expires_at)
SELECT gen_random_uuid(), (ARRAY['email.send', 'inbound.process', 'webhooks.deliver'])[1 + g % 3],
    jsonb_build_object('n', g),
    CASE WHEN g % 100 < 94 THEN 'succeeded' WHEN g % 100 < 97 THEN 'queued'
        WHEN g % 100 < 98 THEN 'running' ELSE 'dead' END,
    1, 8, now() + CASE WHEN g % 2 = 0 THEN interval '1 hour' ELSE -interval '1 minute' END,
    CASE WHEN g % 100 < 94 OR g % 100 >= 98 THEN now() - (g % 20) * interval '1 day' END,
    CASE WHEN g % 100 = 97 THEN gen_random_uuid() END, CASE WHEN g % 100 = 97 THEN 'w' END,
    CASE WHEN g % 100 = 97 THEN now() + CASE WHEN g % 3 = 0 THEN -interval '1 minute'
        ELSE interval '1 minute' END END
FROM generate_series(1, 200000) AS g;

INSERT INTO inbound_events (source, event_id, id, event_type, body, state)
SELECT (ARRAY['stripe', 'github', 'shop'])[1 + g % 3], 'evt_' || g, gen_random_uuid(), 'x.y', '{}',
    CASE WHEN g % 100 < 90 THEN 'processed' WHEN g % 100 < 97 THEN 'ignored'
        WHEN g % 100 < 99 THEN 'received' ELSE 'failed' END
FROM generate_series(1, 100000) AS g;
"""


@pytest.fixture(scope="module")
async def conn(make_database: MakeDatabase) -> AsyncIterator[asyncpg.Connection[Any]]:
    # Index-only scans need the visibility map a vacuum builds (autovacuum would, in time).
    vacuum = "VACUUM ANALYZE jobs, inbound_events"
    async with migrated_connection(make_database, "jobplans", SEED, vacuum) as connection:
        yield connection


@pytest.fixture(scope="module")
async def some_job(conn: asyncpg.Connection[Any]) -> uuid.UUID:
    return await conn.fetchval("SELECT id FROM jobs WHERE state = 'running' LIMIT 1")


def cases(job: uuid.UUID) -> list[Case]:
    token = uuid.uuid4()
    later = datetime.now(UTC) + timedelta(minutes=5)
    # The row by id: the primary key, or (state, id) when the query also names the state.
    pkey = ("jobs_pkey|jobs_state_idx",)
    inbound = ("inbound_events_pkey",)
    return [
        Case(
            "jobs.claim_jobs",
            {"kinds": ["email.send"], "limit": 8, "worker": "w", "lease_seconds": 30},
            ("jobs_due_idx",),
        ),
        Case("jobs.reclaim_expired_jobs", {"limit": 100}, ("jobs_lease_idx",)),
        Case("jobs.list_jobs", {"state": "dead", "before_id": TOP, "limit": 21}, ("jobs_state_idx",)),
        Case(
            "jobs.list_jobs_of_kind",
            {"state": "dead", "kind": "email.send", "before_id": TOP, "limit": 21},
            ("jobs_state_kind_idx",),
        ),
        Case(
            "jobs.count_jobs_by_state",
            {},
            ("jobs_due_idx", "jobs_lease_idx", "jobs_finished_idx|jobs_state_idx", "jobs_state_idx"),
        ),
        Case("jobs.count_dead_jobs", {}, ("jobs_state_idx",)),
        Case(
            "jobs.delete_finished_jobs",
            {"before": datetime.now(UTC) - timedelta(days=7)},
            ("jobs_finished_idx",),
        ),
        Case("jobs.get_job", {"id": job}, pkey),
        Case("jobs.complete_job", {"id": job, "lease_token": token}, pkey),
        Case(
            "jobs.fail_job",
            {"id": job, "lease_token": token, "error": "x", "dead": False, "retry_at": later},
            pkey,
        ),
        Case("jobs.release_job", {"id": job, "lease_token": token}, pkey),
        Case("jobs.revive_job", {"id": job}, pkey),
        Case("inbound.get_inbound_event", {"source": "shop", "event_id": "evt_5"}, inbound),
        Case("inbound.lock_inbound_event", {"source": "shop", "event_id": "evt_5"}, inbound),
        Case(
            "inbound.finish_inbound_event",
            {"source": "shop", "event_id": "evt_5", "state": "processed", "error": None},
            inbound,
        ),
        Case(
            "inbound.list_inbound_events",
            {"state": "failed", "before_id": TOP, "limit": 21},
            ("inbound_events_state_idx",),
        ),
        Case(
            "inbound.list_inbound_events_from_source",
            {"state": "failed", "source": "shop", "before_id": TOP, "limit": 21},
            ("inbound_events_state_source_idx",),
        ),
        Case("inbound.count_inbound_events_by_state", {}, ("inbound_events_state_idx",), "small-states"),
        Case(
            "inbound.delete_old_inbound_events",
            {"state": "processed", "before_id": first_id_at(datetime.now(UTC) - timedelta(days=30))},
            ("inbound_events_state_idx", "inbound_events_id_key"),
        ),
    ]


CASE_IDS = [case.id for case in cases(uuid.uuid4())]


def _literal(value: Any) -> str:
    if isinstance(value, list):
        return "ARRAY[" + ", ".join(literal(item) for item in value) + "]::text []"
    return literal(value)


# Counting the processed majority of all inbound events reads most of the table whichever way;
# the planner may scan it for that branch (the file's header says so). The other states must not.
SEQ_SCAN_ALLOWED = {"inbound.count_inbound_events_by_state-small-states"}


def _check(explained: str, case: Case, mode: str) -> None:
    check = PlanCheck.of(explained)
    bad = set() if case.id in SEQ_SCAN_ALLOWED else check.seq_scans & BIG_TABLES
    assert not bad, f"{case.id} ({mode}): Seq Scan on {sorted(bad)}"
    missing = [need for need in case.indexes if not set(need.split("|")) & check.indexes]
    assert not missing, f"{case.id} ({mode}): {sorted(missing)} not used; plan used {sorted(check.indexes)}"


def test_every_queue_and_inbound_read_has_a_case() -> None:
    """Reads and state changes are checked here; the inserts (new keys) are not plan questions."""
    inserts = {
        "jobs.enqueue_job",
        "jobs.extend_job_leases",
        "inbound.insert_inbound_event",
        "inbound.requeue_inbound_event",
    }
    names = {f"jobs.{name}" for name in _names("jobs")} | {f"inbound.{name}" for name in _names("inbound")}
    assert names - inserts == {case.query for case in cases(uuid.uuid4())}


def _names(folder: str) -> set[str]:
    from app.core.db import SQL_DIR

    return {path.stem for path in (SQL_DIR / folder).glob("*.sql")}


@pytest.mark.parametrize("force_generic", [False, True], ids=["custom", "force_generic_plan"])
@pytest.mark.parametrize("case_id", CASE_IDS)
async def test_queue_queries_use_their_indexes(
    conn: asyncpg.Connection[Any], some_job: uuid.UUID, case_id: str, force_generic: bool
) -> None:
    [case] = [case for case in cases(some_job) if case.id == case_id]
    folder, name = case.query.split(".")
    text = getattr(getattr(sql(), folder), name).sql
    values = list(sql().driver_adapter.maybe_order_params(case.query, case.params))
    transaction = conn.transaction()
    await transaction.start()
    try:
        if not force_generic or not values:
            _check(await conn.fetchval(f"EXPLAIN (FORMAT JSON) {text}", *values), case, "custom plan")
            return
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await conn.execute(f"PREPARE queue_plan_probe AS {text}")
        args = ", ".join(_literal(value) for value in values)
        _check(
            await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE queue_plan_probe({args})"),
            case,
            "generic plan",
        )
    finally:
        await transaction.rollback()
        if await conn.fetchval("SELECT count(*) FROM pg_prepared_statements WHERE name = 'queue_plan_probe'"):
            await conn.execute("DEALLOCATE queue_plan_probe")
