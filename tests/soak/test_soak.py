"""A bounded soak against a live server (issue 8): a fixed rate of mixed reads and writes for
SOAK_SECONDS, then the service is held to what it promised.

- every answer is the expected one: zero 5xx, zero transport errors, nothing unexpected;
- p99 latency, measured from each request's due time (open loop), stays under SOAK_P99_MS;
- each granian worker's and the job worker's memory stays flat after the warm-up (drift under
  SOAK_RSS_MARGIN_MIB) and no worker was replaced;
- the database's connections never exceed what the pools may hold, and do not creep up;
- nothing was lost or doubled: the database holds exactly the items whose creates were answered
  201 (minus those answered 204 to a delete), one event each, retried creates made one item, every
  accepted inbound webhook is stored once and handled, every job finished, and every item.created
  event of the subscribed org reached its webhook receiver.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.factories import unique
from tests.outbound.receiver import Receiver
from tests.soak.conftest import DB_POOL_MAX_SIZE, GRANIAN_WORKERS, Fleet, SoakPlan
from tests.soak.http import Http
from tests.soak.load import Sample, drive, status_counts, summarize
from tests.soak.resources import Watch, connection_count
from tests.soak.traffic import DEFAULT_EXPECTED, EXPECTED, INBOUND_SOURCE, Mix, build_tenant, expect

pytestmark = pytest.mark.soak

TENANTS = 4
DRAIN_SECONDS = 60.0
REPORT = Path(".data/soak-report.json")
# Every pool may fill (two granian workers and the job worker), plus the job worker's LISTEN link.
CONNECTION_CAP = (GRANIAN_WORKERS + 1) * DB_POOL_MAX_SIZE + 1
CONNECTION_CREEP = 2  # connections the count may rise by after the warm-up (median to median)


@dataclass
class Outcome:
    """What the run produced and what the database and the receiver hold afterwards."""

    samples: list[Sample]
    watch: Watch
    jobs: dict[str, int]
    stored: dict[str, Any]
    connections_after: int
    delivered: list[str]  # Webhook-Id of every outbound delivery the receiver got


async def test_a_bounded_soak_keeps_every_promise(
    fleet: Fleet, receiver: Receiver, plan: SoakPlan, soak_database: str
) -> None:
    mix, workers, outcome = await _run(fleet, receiver, plan, soak_database)
    report = _report(plan, mix, outcome)
    REPORT.parent.mkdir(exist_ok=True)
    traces = {name: trace.points for name, trace in outcome.watch.memory.items()}
    traces["connections"] = outcome.watch.connections.points
    full = report | {"traces": traces}  # every sample, for a closer look
    REPORT.write_text(json.dumps(full, indent=1) + "\n")  # noqa: ASYNC240 - once, after the load
    print("\n" + json.dumps(report, indent=2))  # noqa: T201 - the summary `just soak` (pytest -s) shows

    # Every answer was the expected one: no 5xx, no transport error, no stray 4xx.
    errors = [f"{s.operation}: {s.error}" for s in outcome.samples if s.status is None][:5]
    assert _unexpected(outcome.samples) == {}, (errors, fleet.server.stderr()[-3000:])
    assert len(outcome.samples) == round(plan.rate * plan.seconds)
    assert report["p99_ms"] <= plan.p99_ms, report

    # The processes lived through it, none replaced, each one's memory flat after the warm-up.
    assert fleet.server.process.poll() is None
    assert fleet.worker.poll() is None
    assert fleet.granian_workers() == workers
    for name, drift in report["rss_drift_mib"].items():
        assert drift <= plan.rss_margin_mib, (name, report["rss_mib"][name])

    # No connection leak: never above what the pools may hold, not creeping up.
    connections = report["connections"]
    assert connections["max"] <= CONNECTION_CAP, outcome.watch.connections.points
    assert connections["drift"] <= CONNECTION_CREEP, outcome.watch.connections.points
    assert outcome.connections_after <= CONNECTION_CAP

    # Nothing lost or doubled.
    assert outcome.jobs.get("dead", 0) == 0, outcome.jobs
    assert not outcome.jobs.get("queued"), outcome.jobs
    assert not outcome.jobs.get("running"), outcome.jobs
    ledger, stored = mix.ledger, outcome.stored
    assert stored["items"] == {name: id_ for name, id_ in ledger.created.items() if id_ not in ledger.deleted}
    assert stored["deleted_items"] == sorted(ledger.deleted)  # deletes are soft
    assert stored["created_events"] == sorted(ledger.created.values())
    assert stored["deleted_events"] == sorted(ledger.deleted)
    assert all(first == again for first, again in ledger.replays), ledger.replays
    assert stored["inbound"] == dict.fromkeys(ledger.inbound_ids, "ignored")  # no handler: stored, ignored
    assert outcome.delivered == stored["hooked_events"], (
        len(outcome.delivered),
        len(stored["hooked_events"]),
    )


async def _run(
    fleet: Fleet, receiver: Receiver, plan: SoakPlan, soak_database: str
) -> tuple[Mix, list[int], Outcome]:
    """Builds the tenants, subscribes the first one's item.created to the receiver, drives the
    load while watching the processes, then waits for the job queue to drain."""
    client = Http(fleet.server.base_url)
    try:
        tenants = [await build_tenant(client) for _ in range(TENANTS)]
        hooked = tenants[0]
        subscription = {"url": receiver.url, "event_types": ["item.created"]}
        endpoints = f"/orgs/{hooked.org_id}/webhook-endpoints"
        expect(await client.post(endpoints, json=subscription, headers=hooked.user_headers), 201)
        mix = Mix(client, tenants, prefix=unique("soak-run"))

        workers = fleet.granian_workers()
        assert len(workers) == GRANIAN_WORKERS, workers
        processes = {f"granian worker {pid}": pid for pid in workers} | {"job worker": fleet.worker.pid}
        database = soak_database.rsplit("/", 1)[1]
        watch = Watch(processes, soak_database, database)
        stop = asyncio.Event()
        watching = asyncio.create_task(watch.run(stop))
        samples = await drive(plan.rate, plan.seconds, mix.choose)
        stop.set()
        await watching
    finally:
        await client.close()

    conn: asyncpg.Connection[Any] = await asyncpg.connect(soak_database)
    try:
        jobs = await _drained(conn)  # a delivery job succeeds only after the receiver answered
        stored = await _stored(conn, mix.prefix, [t.org_id for t in tenants], hooked.org_id)
        connections_after = await connection_count(conn, database)
    finally:
        await conn.close()
    delivered = sorted({r.headers["webhook-id"] for r in receiver.requests})
    return mix, workers, Outcome(samples, watch, jobs, stored, connections_after, delivered)


def _report(plan: SoakPlan, mix: Mix, outcome: Outcome) -> dict[str, Any]:
    latency = summarize(outcome.samples)
    watch = outcome.watch
    return {
        "plan": vars(plan) | {"warmup": plan.warmup},
        "requests": latency.count,
        "p50_ms": round(latency.p50_ms, 1),
        "p99_ms": round(latency.p99_ms, 1),
        "max_ms": round(latency.max_ms, 1),
        "p99_ms_by_operation": {
            name: round(summarize([x for x in outcome.samples if x.operation == name]).p99_ms, 1)
            for name in sorted({x.operation for x in outcome.samples})
        },
        "statuses": {
            f"{op} {status}": n for (op, status), n in sorted(status_counts(outcome.samples).items())
        },
        "rss_mib": {name: trace.outline() for name, trace in watch.memory.items()},
        "rss_drift_mib": {name: round(trace.drift(plan.warmup), 1) for name, trace in watch.memory.items()},
        "connections": {
            "max": max(count for _, count in watch.connections.points),
            "cap": CONNECTION_CAP,
            "drift": watch.connections.drift(plan.warmup),
            "after": outcome.connections_after,
        },
        "jobs": outcome.jobs,
        "items_created": len(mix.ledger.created),
        "items_deleted": len(mix.ledger.deleted),
        "idempotent_replays": len(mix.ledger.replays),
        "inbound_events": len(mix.ledger.inbound_ids),
        "outbound_deliveries": len(outcome.delivered),
    }


async def _drained(conn: asyncpg.Connection[Any]) -> dict[str, int]:
    """Job counts by state once nothing is queued or running (or DRAIN_SECONDS have passed)."""
    deadline = time.monotonic() + DRAIN_SECONDS
    while True:
        rows = await conn.fetch("SELECT state, count(*) AS n FROM jobs GROUP BY state")
        counts = {row["state"]: row["n"] for row in rows}
        if not (counts.get("queued") or counts.get("running")) or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.5)


def _unexpected(samples: list[Sample]) -> dict[str, int]:
    found = Counter[str]()
    for (operation, status), count in status_counts(samples).items():
        if status not in EXPECTED.get(operation, DEFAULT_EXPECTED):
            found[f"{operation} -> {status}"] += count
    return dict(found)


async def _stored(
    conn: asyncpg.Connection[Any], prefix: str, org_ids: list[str], hooked_org_id: str
) -> dict[str, Any]:
    """What the database holds of this run's writes."""
    items = await conn.fetch(
        "SELECT name, id::text AS id, deleted_at IS NOT NULL AS deleted FROM items"
        " WHERE org_id = ANY($1::uuid[]) AND name LIKE $2",
        org_ids,
        f"{prefix} %",
    )
    events = await conn.fetch(
        "SELECT id::text AS id, org_id::text AS org_id, event_type, payload->>'id' AS item_id,"
        " payload->>'name' AS name FROM domain_events"
        " WHERE org_id = ANY($1::uuid[]) AND event_type IN ('item.created', 'item.deleted')",
        org_ids,
    )
    inbound = await conn.fetch("SELECT event_id, state FROM inbound_events WHERE source = $1", INBOUND_SOURCE)
    created = [e for e in events if e["event_type"] == "item.created"]
    ours = {e["item_id"] for e in created if e["name"].startswith(f"{prefix} ")}
    return {
        "items": {row["name"]: row["id"] for row in items if not row["deleted"]},
        "deleted_items": sorted(row["id"] for row in items if row["deleted"]),
        "created_events": sorted(e["item_id"] for e in created if e["item_id"] in ours),
        "deleted_events": sorted(
            e["item_id"] for e in events if e["event_type"] == "item.deleted" and e["item_id"] in ours
        ),
        "inbound": {row["event_id"]: row["state"] for row in inbound},
        # The run's own: the seeded items were created before the endpoint subscribed.
        "hooked_events": sorted(
            e["id"] for e in created if e["org_id"] == hooked_org_id and e["item_id"] in ours
        ),
    }
