"""/orgs/{org_id}/webhook-endpoints: create (secret shown once, per-org limit under concurrency),
list, get, change (re-enable clears the failure state), delete, rotate the secret, the delivery
log; validation, who may call them, tenant isolation and the audit trail."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from litestar.testing import AsyncTestClient

from app.core.config import Settings
from app.core.db import SQL_DIR, sql
from app.core.ids import new_id
from app.main import create_app
from app.migrate import apply_all
from tests.factories import (
    Client,
    assert_no_secrets,
    expect_data,
    expect_no_content,
    expect_problem,
    signed_in_user,
)
from tests.items.item_helpers import send_concurrently
from tests.orgs.org_helpers_keys import create_key, key_headers
from tests.orgs.org_helpers_orgs import Pool, add_member, org_with
from tests.services import TestServices as Services  # not `Test*`: pytest would collect it
from tests.sql.test_query_plans import Case as PlanCase
from tests.sql.test_query_plans import PlanCheck, literal

Headers = dict[str, str]
HOOK_URL = "https://example.com/hooks/app"
ENDPOINT_FIELDS = {
    "id",
    "url",
    "description",
    "event_types",
    "enabled",
    "disabled_reason",
    "failing_since",
    "consecutive_failures",
    "created_by",
    "created_at",
    "updated_at",
    "previous_secret_expires_at",
}
ATTEMPT_FIELDS = {
    "id",
    "delivery_id",
    "event_type",
    "state",
    "attempt",
    "attempted_at",
    "status_code",
    "latency_ms",
    "error",
}


@pytest.fixture(scope="module")
async def limited(make_settings: Callable[..., Settings]) -> AsyncIterator[Client]:
    """A client of an app that allows 2 endpoints per org, and loopback URLs."""
    settings = make_settings(max_webhook_endpoints_per_org="2", webhook_allow_loopback="true")
    async with AsyncTestClient(create_app(settings)) as test_client:
        yield test_client


# ---- helpers -----------------------------------------------------------------------------------


def endpoints_url(org_id: str) -> str:
    return f"/orgs/{org_id}/webhook-endpoints"


def endpoint_url(org_id: str, endpoint_id: str, suffix: str = "") -> str:
    return f"/orgs/{org_id}/webhook-endpoints/{endpoint_id}{suffix}"


def new_endpoint(**fields: Any) -> dict[str, Any]:
    return {"url": HOOK_URL, "event_types": ["item.created"], **fields}


async def create_endpoint(client: Client, org_id: str, headers: Headers, **fields: Any) -> dict[str, Any]:
    response = await client.post(endpoints_url(org_id), json=new_endpoint(**fields), headers=headers)
    return expect_data(response, 201)


async def stored(db: Pool, endpoint_id: str) -> Any:
    return await db.fetchrow(
        "SELECT org_id, url, description, event_types, secret, previous_secret, enabled, disabled_reason,"
        " failing_since, consecutive_failures FROM webhook_endpoints WHERE id = $1",
        UUID(endpoint_id),
    )


async def count_endpoints(db: Pool, org_id: str) -> int:
    return await db.fetchval("SELECT count(*) FROM webhook_endpoints WHERE org_id = $1", UUID(org_id))


async def audit_actions(db: Pool, org_id: str, target_id: str) -> list[str]:
    rows = await db.fetch(
        "SELECT action FROM audit_events WHERE org_id = $1 AND target_id = $2 ORDER BY id",
        UUID(org_id),
        UUID(target_id),
    )
    return [row["action"] for row in rows]


async def mark_failing(db: Pool, endpoint_id: str) -> None:
    """Put an endpoint in the state the delivery worker leaves a long-failing one in."""
    await db.execute(
        "UPDATE webhook_endpoints SET enabled = false, disabled_reason = 'failing for 72 hours',"
        " failing_since = now() - interval '3 days', consecutive_failures = 25 WHERE id = $1",
        UUID(endpoint_id),
    )


async def insert_attempts(
    db: Pool, org_id: str, endpoint_id: str, count: int, *, event_type: str = "item.created"
) -> list[dict[str, Any]]:
    """One delivery of a new event to the endpoint and `count` attempts of it, oldest first
    (UUIDv7 ids, so in id order too), as the delivery worker writes them. The attempts' ids."""
    org, endpoint = UUID(org_id), UUID(endpoint_id)
    event_id, delivery_id = new_id(), new_id()
    await db.execute(
        "INSERT INTO domain_events (org_id, id, event_type, payload) VALUES ($1, $2, $3, '{}')",
        org,
        event_id,
        event_type,
    )
    await db.execute(
        "INSERT INTO webhook_deliveries (org_id, id, endpoint_id, event_id, event_type, state, attempts)"
        " VALUES ($1, $2, $3, $4, $5, 'failed', $6)",
        org,
        delivery_id,
        endpoint,
        event_id,
        event_type,
        count,
    )
    made: list[dict[str, Any]] = []
    for attempt in range(1, count + 1):
        attempt_id = new_id()
        status = 500 if attempt % 2 else None
        error = None if status else "connection refused"
        await db.execute(
            "INSERT INTO webhook_delivery_attempts (org_id, id, delivery_id, endpoint_id, attempt,"
            " status_code, latency_ms, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            org,
            attempt_id,
            delivery_id,
            endpoint,
            attempt,
            status,
            12.5 * attempt,
            error,
        )
        made.append(
            {
                "id": str(attempt_id),
                "delivery_id": str(delivery_id),
                "attempt": attempt,
                "status_code": status,
                "error": error,
            }
        )
    return made


async def all_pages(client: Client, url: str, headers: Headers, limit: int) -> list[dict[str, Any]]:
    """Every row of a list, following meta.next_cursor; every page but the last is full."""
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit}
    for _ in range(50):
        response = await client.get(url, params=params, headers=headers)
        page = expect_data(response)
        meta = response.json()["meta"]
        assert meta["has_more"] is (meta["next_cursor"] is not None)
        found.extend(page)
        if not meta["has_more"]:
            assert len(page) <= limit
            return found
        assert len(page) == limit
        params = {"limit": limit, "cursor": meta["next_cursor"]}
    raise AssertionError("pagination does not terminate")


# ---- create ------------------------------------------------------------------------------------


async def test_create_returns_the_endpoint_and_its_secret(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)

    response = await client.post(
        endpoints_url(org_id),
        json={"url": HOOK_URL, "event_types": ["item.created", "member.added"], "description": "CRM sync"},
        headers=owner.headers,
    )

    endpoint = expect_data(response, 201)
    assert set(endpoint) == ENDPOINT_FIELDS | {"secret"}
    assert UUID(endpoint["id"]).version == 7
    assert endpoint["url"] == HOOK_URL
    assert endpoint["event_types"] == ["item.created", "member.added"]
    assert endpoint["description"] == "CRM sync"
    assert endpoint["enabled"] is True
    assert endpoint["disabled_reason"] is None
    assert endpoint["failing_since"] is None
    assert endpoint["consecutive_failures"] == 0
    assert endpoint["created_by"] == owner.id
    assert endpoint["secret"].startswith("whsec_")
    assert len(endpoint["secret"]) == len("whsec_") + 43  # 32 random bytes, base64url
    assert response.headers["location"] == endpoint_url(org_id, endpoint["id"])
    assert response.headers["cache-control"] == "no-store"
    row = await stored(db, endpoint["id"])
    assert str(row["org_id"]) == org_id
    assert row["secret"] == endpoint["secret"]


async def test_defaults_and_a_disabled_endpoint(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)

    plain = await create_endpoint(client, org_id, owner.headers, event_types=["*"])
    disabled = await create_endpoint(client, org_id, owner.headers, enabled=False)

    assert plain["description"] == ""
    assert plain["event_types"] == ["*"]
    assert disabled["enabled"] is False
    assert disabled["disabled_reason"] == "disabled by a user"


async def test_the_secret_is_shown_on_create_and_rotate_only(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    created = await create_endpoint(client, org_id, owner.headers)
    secret = created["secret"]
    url = endpoint_url(org_id, created["id"])

    reads = [
        await client.get(url, headers=owner.headers),
        await client.get(endpoints_url(org_id), headers=owner.headers),
        await client.patch(url, json={"description": "x"}, headers=owner.headers),
        await client.get(url + "/deliveries", headers=owner.headers),
        await client.get(f"/orgs/{org_id}/audit", headers=owner.headers),
    ]

    for response in reads:
        assert response.status_code == 200, response.text
        assert_no_secrets(response, secret, "whsec_")
    assert "secret" not in expect_data(reads[0])
    assert all("secret" not in endpoint for endpoint in expect_data(reads[1]))


# ---- validation --------------------------------------------------------------------------------

INVALID_BODIES = [
    ("not a URL", {"url": "not a url"}, "$.url"),
    ("ftp URL", {"url": "ftp://example.com/hook"}, "$.url"),
    ("private IP", {"url": "http://10.0.0.5/hook"}, "$.url"),
    ("metadata address", {"url": "http://169.254.169.254/latest/meta-data"}, "$.url"),
    ("loopback", {"url": "http://127.0.0.1:8080/hook"}, "$.url"),
    ("localhost", {"url": "http://localhost/hook"}, "$.url"),
    ("user in URL", {"url": "https://user:pw@example.com/hook"}, "$.url"),
    ("empty URL", {"url": ""}, "$.url"),
    ("URL too long", {"url": "https://example.com/" + "a" * 2030}, "$.url"),
    ("unknown event type", {"event_types": ["item.created", "item.exploded"]}, "$.event_types[1]"),
    ("no event types", {"event_types": []}, "$.event_types"),
    ("51 event types", {"event_types": ["*"] * 51}, "$.event_types"),
    ("duplicate event type", {"event_types": ["item.created", "item.created"]}, "$.event_types[1]"),
    ("event types not a list", {"event_types": "item.created"}, "$.event_types"),
    ("description too long", {"description": "d" * 501}, "$.description"),
    ("description null", {"description": None}, "$.description"),
    ("enabled not a boolean", {"enabled": "yes"}, "$.enabled"),
    ("unknown field", {"secret": "whsec_mine"}, "$"),
]


@pytest.mark.parametrize(
    ("fields", "path"), [(f, p) for _, f, p in INVALID_BODIES], ids=[case[0] for case in INVALID_BODIES]
)
async def test_create_refuses_invalid_bodies(
    client: Client, db: Pool, fields: dict[str, Any], path: str
) -> None:
    org_id, owner, _ = await org_with(client, db)

    response = await client.post(endpoints_url(org_id), json=new_endpoint(**fields), headers=owner.headers)

    problem = expect_problem(response, 422, "VALIDATION_ERROR")
    assert [error["path"] for error in problem["errors"]] == [path], problem
    assert await count_endpoints(db, org_id) == 0


async def test_create_reports_every_problem_at_once(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)

    response = await client.post(
        endpoints_url(org_id),
        json={"url": "http://192.168.1.1/", "event_types": ["nope", "*", "*"]},
        headers=owner.headers,
    )

    problem = expect_problem(response, 422, "VALIDATION_ERROR")
    assert [error["path"] for error in problem["errors"]] == ["$.url", "$.event_types[0]", "$.event_types[2]"]


async def test_create_requires_url_and_event_types(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)

    for body in ({"event_types": ["*"]}, {"url": HOOK_URL}, {}):
        response = await client.post(endpoints_url(org_id), json=body, headers=owner.headers)
        expect_problem(response, 422, "VALIDATION_ERROR")


async def test_loopback_urls_pass_where_the_setting_allows_them(limited: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(limited, db)

    endpoint = await create_endpoint(limited, org_id, owner.headers, url="http://127.0.0.1:9999/hook")

    assert endpoint["url"] == "http://127.0.0.1:9999/hook"
    response = await limited.post(
        endpoints_url(org_id), json=new_endpoint(url="http://10.1.2.3/hook"), headers=owner.headers
    )
    expect_problem(response, 422, "VALIDATION_ERROR", path="$.url")


# ---- the per-org limit -------------------------------------------------------------------------


async def test_the_per_org_limit_is_a_409(limited: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(limited, db)
    first = await create_endpoint(limited, org_id, owner.headers)
    await create_endpoint(limited, org_id, owner.headers)

    response = await limited.post(endpoints_url(org_id), json=new_endpoint(), headers=owner.headers)

    problem = expect_problem(response, 409, "CONFLICT")
    assert "2 webhook endpoints" in problem["detail"]
    assert await count_endpoints(db, org_id) == 2
    # The limit is per org, and a deleted endpoint frees its place.
    other_org, other_owner, _ = await org_with(limited, db)
    await create_endpoint(limited, other_org, other_owner.headers)
    expect_no_content(await limited.delete(endpoint_url(org_id, first["id"]), headers=owner.headers))
    await create_endpoint(limited, org_id, owner.headers)


async def test_concurrent_creates_cannot_exceed_the_limit(limited: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(limited, db)
    calls = [("POST", endpoints_url(org_id), owner.headers, new_endpoint()) for _ in range(6)]

    responses = await send_concurrently(limited, *calls)

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201, 201, 409, 409, 409, 409], [response.text for response in responses]
    assert await count_endpoints(db, org_id) == 2


# ---- list and get ------------------------------------------------------------------------------


async def test_list_is_newest_first_with_keyset_pages(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    created = [await create_endpoint(client, org_id, owner.headers, description=f"#{n}") for n in range(5)]

    listed = await all_pages(client, endpoints_url(org_id), owner.headers, limit=2)

    assert [endpoint["id"] for endpoint in listed] == [endpoint["id"] for endpoint in reversed(created)]
    assert all(set(endpoint) == ENDPOINT_FIELDS for endpoint in listed)
    response = await client.get(endpoints_url(org_id), headers=owner.headers)
    assert response.json()["meta"] == {"next_cursor": None, "has_more": False}
    assert len(expect_data(response)) == 5


@pytest.mark.parametrize(
    ("params", "code", "path"),
    [
        pytest.param({"limit": 0}, "VALIDATION_ERROR", "limit", id="limit-0"),
        pytest.param({"limit": 101}, "VALIDATION_ERROR", "limit", id="limit-101"),
        pytest.param({"cursor": "not-a-cursor"}, "INVALID_CURSOR", "cursor", id="bad-cursor"),
    ],
)
async def test_lists_refuse_bad_parameters(
    client: Client, db: Pool, params: dict[str, Any], code: str, path: str
) -> None:
    org_id, owner, _ = await org_with(client, db)
    endpoint = await create_endpoint(client, org_id, owner.headers)

    for url in (endpoints_url(org_id), endpoint_url(org_id, endpoint["id"], "/deliveries")):
        response = await client.get(url, params=params, headers=owner.headers)
        expect_problem(response, 422, code, path=path)


async def test_get_one_endpoint(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    created = await create_endpoint(client, org_id, owner.headers)

    endpoint = expect_data(await client.get(endpoint_url(org_id, created["id"]), headers=owner.headers))

    assert endpoint == {key: value for key, value in created.items() if key != "secret"}
    missing = await client.get(endpoint_url(org_id, str(uuid4())), headers=owner.headers)
    assert expect_problem(missing, 404, "NOT_FOUND")["detail"] == "No such webhook endpoint."


# ---- change ------------------------------------------------------------------------------------


async def test_patch_changes_only_what_is_sent(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    created = await create_endpoint(client, org_id, owner.headers, description="before")
    url = endpoint_url(org_id, created["id"])

    changed = expect_data(
        await client.patch(
            url,
            json={"url": "https://hooks.example.org/v2", "event_types": ["post.published", "*"]},
            headers=owner.headers,
        )
    )

    assert changed["url"] == "https://hooks.example.org/v2"
    assert changed["event_types"] == ["post.published", "*"]
    assert changed["description"] == "before"
    assert changed["enabled"] is True
    assert changed["updated_at"] > created["updated_at"]
    assert expect_data(await client.get(url, headers=owner.headers)) == changed
    # An empty patch changes nothing.
    assert expect_data(await client.patch(url, json={}, headers=owner.headers)) == changed
    cleared = expect_data(await client.patch(url, json={"description": ""}, headers=owner.headers))
    assert cleared["description"] == ""
    assert (await stored(db, created["id"]))["secret"] == created["secret"]


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        pytest.param({"url": "http://172.16.0.1/x"}, "$.url", id="private-url"),
        pytest.param({"url": None}, "$.url", id="null-url"),
        pytest.param({"event_types": []}, "$.event_types", id="no-event-types"),
        pytest.param({"event_types": ["member.added", "nope"]}, "$.event_types[1]", id="unknown-type"),
        pytest.param({"event_types": ["*", "*"]}, "$.event_types[1]", id="duplicate"),
        pytest.param({"description": "d" * 501}, "$.description", id="long-description"),
        pytest.param({"enabled": None}, "$.enabled", id="null-enabled"),
        pytest.param({"secret": "whsec_x"}, "$", id="unknown-field"),
    ],
)
async def test_patch_refuses_invalid_bodies(
    client: Client, db: Pool, fields: dict[str, Any], path: str
) -> None:
    org_id, owner, _ = await org_with(client, db)
    created = await create_endpoint(client, org_id, owner.headers)

    response = await client.patch(endpoint_url(org_id, created["id"]), json=fields, headers=owner.headers)

    problem = expect_problem(response, 422, "VALIDATION_ERROR")
    assert [error["path"] for error in problem["errors"]] == [path], problem
    row = await stored(db, created["id"])
    assert (row["url"], list(row["event_types"]), row["description"]) == (HOOK_URL, ["item.created"], "")


async def test_disabling_by_hand_records_the_reason(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    created = await create_endpoint(client, org_id, owner.headers)

    disabled = expect_data(
        await client.patch(
            endpoint_url(org_id, created["id"]), json={"enabled": False}, headers=owner.headers
        )
    )

    assert disabled["enabled"] is False
    assert disabled["disabled_reason"] == "disabled by a user"


async def test_re_enabling_clears_the_failure_state(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    created = await create_endpoint(client, org_id, owner.headers)
    url = endpoint_url(org_id, created["id"])
    await mark_failing(db, created["id"])

    # Other changes leave the failure state as the deliveries left it.
    described = expect_data(
        await client.patch(url, json={"description": "still down"}, headers=owner.headers)
    )
    assert described["enabled"] is False
    assert described["disabled_reason"] == "failing for 72 hours"
    assert described["consecutive_failures"] == 25
    assert described["failing_since"] is not None

    enabled = expect_data(await client.patch(url, json={"enabled": True}, headers=owner.headers))

    assert enabled["enabled"] is True
    assert enabled["disabled_reason"] is None
    assert enabled["failing_since"] is None
    assert enabled["consecutive_failures"] == 0
    row = await stored(db, created["id"])
    assert (row["enabled"], row["disabled_reason"], row["failing_since"], row["consecutive_failures"]) == (
        True,
        None,
        None,
        0,
    )


async def test_patch_of_a_missing_endpoint_is_404(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)

    for body in ({"description": "x"}, {}):
        response = await client.patch(endpoint_url(org_id, str(uuid4())), json=body, headers=owner.headers)
        expect_problem(response, 404, "NOT_FOUND")


# ---- delete and rotate -------------------------------------------------------------------------


async def test_delete_removes_the_endpoint_and_its_delivery_log(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    doomed = await create_endpoint(client, org_id, owner.headers)
    kept = await create_endpoint(client, org_id, owner.headers)
    await insert_attempts(db, org_id, doomed["id"], 3)
    await insert_attempts(db, org_id, kept["id"], 2)

    expect_no_content(await client.delete(endpoint_url(org_id, doomed["id"]), headers=owner.headers))

    expect_problem(
        await client.get(endpoint_url(org_id, doomed["id"]), headers=owner.headers), 404, "NOT_FOUND"
    )
    expect_problem(
        await client.delete(endpoint_url(org_id, doomed["id"]), headers=owner.headers), 404, "NOT_FOUND"
    )
    for table in ("webhook_deliveries", "webhook_delivery_attempts"):
        counts = await db.fetch(
            f"SELECT endpoint_id, count(*) AS n FROM {table} WHERE org_id = $1 GROUP BY endpoint_id",
            UUID(org_id),
        )
        assert {str(row["endpoint_id"]): row["n"] for row in counts} == {
            kept["id"]: 1 if table == "webhook_deliveries" else 2
        }


async def test_rotate_secret_returns_a_new_secret_once(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    created = await create_endpoint(client, org_id, owner.headers)
    url = endpoint_url(org_id, created["id"], "/rotate-secret")

    response = await client.post(url, headers=owner.headers)

    rotated = expect_data(response, 200)
    assert set(rotated) == ENDPOINT_FIELDS | {"secret"}
    assert response.headers["cache-control"] == "no-store"
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != created["secret"]
    assert created["previous_secret_expires_at"] is None
    # The replaced secret keeps signing for WEBHOOK_ROTATION_GRACE_HOURS (24 by default).
    grace = datetime.fromisoformat(rotated["previous_secret_expires_at"]) - datetime.now(UTC)
    assert timedelta(hours=23, minutes=59) < grace <= timedelta(hours=24)
    row = await stored(db, created["id"])
    assert (row["secret"], row["previous_secret"]) == (rotated["secret"], created["secret"])
    again = expect_data(await client.post(url, headers=owner.headers))
    assert again["secret"] not in (created["secret"], rotated["secret"])
    # A second rotation in the grace period: the oldest secret is dropped, at most two sign.
    assert (await stored(db, created["id"]))["previous_secret"] == rotated["secret"]
    read = await client.get(endpoint_url(org_id, created["id"]), headers=owner.headers)
    assert_no_secrets(read, created["secret"], rotated["secret"], again["secret"])
    assert expect_data(read)["previous_secret_expires_at"] == again["previous_secret_expires_at"]
    missing = await client.post(endpoint_url(org_id, str(uuid4()), "/rotate-secret"), headers=owner.headers)
    expect_problem(missing, 404, "NOT_FOUND")


# ---- the delivery log --------------------------------------------------------------------------


async def test_the_delivery_log_lists_attempts_newest_first(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    endpoint = await create_endpoint(client, org_id, owner.headers, event_types=["*"])
    other = await create_endpoint(client, org_id, owner.headers)
    first = await insert_attempts(db, org_id, endpoint["id"], 3, event_type="item.created")
    second = await insert_attempts(db, org_id, endpoint["id"], 2, event_type="member.added")
    await db.execute(
        "UPDATE webhook_deliveries SET state = 'succeeded' WHERE id = $1", UUID(second[0]["delivery_id"])
    )
    await insert_attempts(db, org_id, other["id"], 4)
    url = endpoint_url(org_id, endpoint["id"], "/deliveries")

    log = await all_pages(client, url, owner.headers, limit=2)

    assert [row["id"] for row in log] == [row["id"] for row in reversed(first + second)]
    assert all(set(row) == ATTEMPT_FIELDS for row in log)
    newest = log[0]
    assert newest["delivery_id"] == second[-1]["delivery_id"]
    assert newest["attempt"] == 2
    assert newest["event_type"] == "member.added"
    assert newest["state"] == "succeeded"
    assert newest["status_code"] is None
    assert newest["error"] == "connection refused"
    assert newest["latency_ms"] == 25.0
    oldest = log[-1]
    assert (oldest["event_type"], oldest["state"], oldest["attempt"]) == ("item.created", "failed", 1)
    assert (oldest["status_code"], oldest["error"]) == (500, None)
    assert datetime.fromisoformat(oldest["attempted_at"]) > datetime.now(UTC) - timedelta(minutes=5)


async def test_an_endpoint_without_attempts_has_an_empty_log(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    endpoint = await create_endpoint(client, org_id, owner.headers)

    response = await client.get(endpoint_url(org_id, endpoint["id"], "/deliveries"), headers=owner.headers)

    assert expect_data(response) == []
    assert response.json()["meta"] == {"next_cursor": None, "has_more": False}
    missing = await client.get(endpoint_url(org_id, str(uuid4()), "/deliveries"), headers=owner.headers)
    assert expect_problem(missing, 404, "NOT_FOUND")["detail"] == "No such webhook endpoint."


# ---- who may call ------------------------------------------------------------------------------


async def _every_route(
    client: Client, org_id: str, endpoint_id: str, headers: Headers
) -> list[httpx.Response]:
    one = endpoint_url(org_id, endpoint_id)
    return [
        await client.post(endpoints_url(org_id), json=new_endpoint(), headers=headers),
        await client.get(endpoints_url(org_id), headers=headers),
        await client.get(one, headers=headers),
        await client.patch(one, json={"description": "x"}, headers=headers),
        await client.get(one + "/deliveries", headers=headers),
        await client.post(one + "/rotate-secret", headers=headers),
        await client.delete(one, headers=headers),
    ]


@pytest.mark.parametrize("role", ["member", "viewer"])
async def test_members_and_viewers_are_refused(client: Client, db: Pool, role: str) -> None:
    org_id, owner, (user,) = await org_with(client, db, role)
    endpoint = await create_endpoint(client, org_id, owner.headers)

    for response in await _every_route(client, org_id, endpoint["id"], user.headers):
        expect_problem(response, 403, "PERMISSION_DENIED")
    assert await count_endpoints(db, org_id) == 1
    assert (await stored(db, endpoint["id"]))["secret"] == endpoint["secret"]


async def test_admins_may_manage_endpoints(client: Client, db: Pool) -> None:
    org_id, owner, (admin,) = await org_with(client, db, "admin")
    endpoint = await create_endpoint(client, org_id, owner.headers)

    responses = await _every_route(client, org_id, endpoint["id"], admin.headers)

    assert [response.status_code for response in responses] == [201, 200, 200, 200, 200, 200, 204]
    assert expect_data(responses[0], 201)["created_by"] == admin.id


async def test_an_admin_api_key_may_manage_endpoints(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    key = await create_key(client, org_id, owner, role="admin")
    endpoint = await create_endpoint(client, org_id, owner.headers)

    responses = await _every_route(client, org_id, endpoint["id"], key_headers(key["key"]))

    assert [response.status_code for response in responses] == [201, 200, 200, 200, 200, 200, 204]
    made = expect_data(responses[0], 201)
    assert made["created_by"] is None  # made by a key, not a person
    actor = await db.fetchval(
        "SELECT actor_type FROM audit_events WHERE org_id = $1 AND target_id = $2 AND action = $3",
        UUID(org_id),
        UUID(made["id"]),
        "webhook_endpoint.created",
    )
    assert actor == "api_key"


@pytest.mark.parametrize("role", ["member", "viewer"])
async def test_member_and_viewer_api_keys_are_refused(client: Client, db: Pool, role: str) -> None:
    org_id, owner, _ = await org_with(client, db)
    key = await create_key(client, org_id, owner, role=role)
    endpoint = await create_endpoint(client, org_id, owner.headers)

    for response in await _every_route(client, org_id, endpoint["id"], key_headers(key["key"])):
        expect_problem(response, 403, "PERMISSION_DENIED")


async def test_no_credentials_is_401(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    endpoint = await create_endpoint(client, org_id, owner.headers)

    for response in await _every_route(client, org_id, endpoint["id"], {}):
        expect_problem(response, 401, "AUTHENTICATION_REQUIRED")


# ---- tenant isolation --------------------------------------------------------------------------


async def test_another_orgs_endpoints_do_not_exist_for_you(client: Client, db: Pool) -> None:
    mine, me, _ = await org_with(client, db)
    theirs, them, _ = await org_with(client, db)
    their_endpoint = await create_endpoint(client, theirs, them.headers)
    await insert_attempts(db, theirs, their_endpoint["id"], 2)
    await create_endpoint(client, mine, me.headers)

    # Their endpoint's id under my org: no such endpoint.
    for response in (await _every_route(client, mine, their_endpoint["id"], me.headers))[2:]:
        assert expect_problem(response, 404, "NOT_FOUND")["detail"] == "No such webhook endpoint."
    # Their org: no such org, whatever the route.
    for response in await _every_route(client, theirs, their_endpoint["id"], me.headers):
        assert expect_problem(response, 404, "NOT_FOUND")["detail"] == "No such organization."
    listed = expect_data(await client.get(endpoints_url(mine), headers=me.headers))
    assert their_endpoint["id"] not in [endpoint["id"] for endpoint in listed]
    row = await stored(db, their_endpoint["id"])
    assert (row["description"], row["secret"]) == ("", their_endpoint["secret"])
    # An admin key of my org gets the same answers.
    key = await create_key(client, mine, me, role="admin")
    response = await client.get(endpoint_url(theirs, their_endpoint["id"]), headers=key_headers(key["key"]))
    expect_problem(response, 404, "NOT_FOUND")


async def test_a_user_in_two_orgs_sees_each_orgs_own_endpoints(client: Client, db: Pool) -> None:
    first, owner, _ = await org_with(client, db)
    second, other_owner, _ = await org_with(client, db)
    await add_member(db, second, owner, "admin")
    in_first = await create_endpoint(client, first, owner.headers)
    in_second = await create_endpoint(client, second, other_owner.headers)

    listed_first = expect_data(await client.get(endpoints_url(first), headers=owner.headers))
    listed_second = expect_data(await client.get(endpoints_url(second), headers=owner.headers))

    assert [endpoint["id"] for endpoint in listed_first] == [in_first["id"]]
    assert [endpoint["id"] for endpoint in listed_second] == [in_second["id"]]
    response = await client.get(endpoint_url(first, in_second["id"]), headers=owner.headers)
    expect_problem(response, 404, "NOT_FOUND")


# ---- audit ---------------------------------------------------------------------------------------


async def test_every_change_is_audited_without_the_secret(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    created = await create_endpoint(client, org_id, owner.headers, description="first")
    url = endpoint_url(org_id, created["id"])
    expect_data(
        await client.patch(url, json={"description": "second", "enabled": False}, headers=owner.headers)
    )
    rotated = expect_data(await client.post(url + "/rotate-secret", headers=owner.headers))
    expect_no_content(await client.delete(url, headers=owner.headers))

    assert await audit_actions(db, org_id, created["id"]) == [
        "webhook_endpoint.created",
        "webhook_endpoint.updated",
        "webhook_endpoint.secret_rotated",
        "webhook_endpoint.deleted",
    ]
    response = await client.get(
        f"/orgs/{org_id}/audit", params={"action": "webhook_endpoint.updated"}, headers=owner.headers
    )
    [updated] = expect_data(response)
    assert updated["actor_id"] == owner.id
    assert updated["target_type"] == "webhook_endpoint"
    assert updated["before"] == {"description": "first", "enabled": True}
    assert updated["after"] == {"description": "second", "enabled": False}
    everything = await client.get(f"/orgs/{org_id}/audit", headers=owner.headers)
    assert_no_secrets(everything, created["secret"], rotated["secret"], "whsec_")


async def test_refused_changes_are_not_audited(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    endpoint = await create_endpoint(client, org_id, owner.headers)
    stranger = await signed_in_user(client)
    await add_member(db, org_id, stranger, "member")

    await client.patch(
        endpoint_url(org_id, endpoint["id"]), json={"url": "http://10.0.0.1/"}, headers=owner.headers
    )
    await client.delete(endpoint_url(org_id, endpoint["id"]), headers=stranger.headers)

    assert await audit_actions(db, org_id, endpoint["id"]) == ["webhook_endpoint.created"]


# ---- query plans -------------------------------------------------------------------------------
# As tests/sql does for the other features: a database of its own, migrated and seeded (3,000 orgs
# with 5 endpoints each; one org with 20 endpoints, 40,000 deliveries and 80,000 attempts), then
# ANALYZEd. Each query in sql/outbound of these routes must use the indexes its header names and
# no Seq Scan on a big table, with a custom plan and with `force_generic_plan`.

PLAN_QUERIES = (
    "lock_webhook_endpoint_quota",
    "insert_webhook_endpoint",
    "get_webhook_endpoint",
    "list_webhook_endpoints",
    "update_webhook_endpoint",
    "delete_webhook_endpoint",
    "rotate_webhook_endpoint_secret",
    "list_webhook_delivery_attempts",
)
BIG_TABLES = frozenset(
    {"orgs", "webhook_endpoints", "domain_events", "webhook_deliveries", "webhook_delivery_attempts"}
)
PLAN_SEED = """
INSERT INTO orgs (id, name, slug)
SELECT gen_random_uuid(), 'Org ' || n, 'plan-org-' || n FROM generate_series(0, 2999) AS n;

INSERT INTO webhook_endpoints (org_id, id, url, event_types, secret)
SELECT o.id, gen_random_uuid(), 'https://example.com/' || g, ARRAY['*'], 'whsec_' || md5(o.id::text || g)
FROM orgs AS o
CROSS JOIN LATERAL generate_series(1, CASE WHEN o.slug = 'plan-org-0' THEN 20 ELSE 5 END) AS g;

INSERT INTO domain_events (org_id, id, event_type, payload)
SELECT o.id, gen_random_uuid(), 'item.created', '{}'
FROM orgs AS o CROSS JOIN generate_series(1, 10000)
WHERE o.slug = 'plan-org-0';

INSERT INTO webhook_deliveries (org_id, id, endpoint_id, event_id, event_type, state, attempts)
SELECT e.org_id, gen_random_uuid(), w.id, e.id, e.event_type, 'succeeded', 2
FROM domain_events AS e
JOIN LATERAL (
    SELECT id FROM webhook_endpoints WHERE org_id = e.org_id ORDER BY id LIMIT 4
) AS w ON true;

INSERT INTO webhook_delivery_attempts (org_id, id, delivery_id, endpoint_id, attempt, status_code, latency_ms)
SELECT d.org_id, gen_random_uuid(), d.id, d.endpoint_id, a, 200, 10
FROM webhook_deliveries AS d CROSS JOIN generate_series(1, 2) AS a;

ANALYZE orgs, webhook_endpoints, domain_events, webhook_deliveries, webhook_delivery_attempts;
"""


@dataclass(frozen=True)
class PlanSeed:
    org_id: UUID
    endpoint_id: UUID  # the org's endpoint with the most attempts
    middle_attempt_id: UUID


@pytest.fixture(scope="module")
async def plan_conn(test_services: Services) -> AsyncIterator[asyncpg.Connection[Any]]:
    name = f"app_test_outbound_plans_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(test_services.postgres_admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = test_services.postgres_admin_url.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    try:
        apply_all(url)
        connection: asyncpg.Connection[Any] = await asyncpg.connect(url)
        try:
            await connection.execute(PLAN_SEED)
            yield connection
        finally:
            await connection.close()
    finally:
        admin = await asyncpg.connect(test_services.postgres_admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(scope="module")
async def plan_seed(plan_conn: asyncpg.Connection[Any]) -> PlanSeed:
    row = await plan_conn.fetchrow(
        "SELECT a.org_id, a.endpoint_id, count(*) AS n FROM webhook_delivery_attempts AS a"
        " GROUP BY a.org_id, a.endpoint_id ORDER BY n DESC LIMIT 1"
    )
    assert row is not None
    assert row["n"] >= 20_000
    middle = await plan_conn.fetchval(
        "SELECT id FROM webhook_delivery_attempts WHERE org_id = $1 AND endpoint_id = $2"
        " ORDER BY id DESC OFFSET 5000 LIMIT 1",
        row["org_id"],
        row["endpoint_id"],
    )
    return PlanSeed(org_id=row["org_id"], endpoint_id=row["endpoint_id"], middle_attempt_id=middle)


def plan_cases(seed: PlanSeed) -> list[PlanCase]:
    org, endpoint, top = seed.org_id, seed.endpoint_id, UUID(int=(1 << 128) - 1)
    pkey = ("webhook_endpoints_pkey",)
    log = ("webhook_endpoints_pkey", "webhook_delivery_attempts_endpoint_idx", "webhook_deliveries_pkey")
    one = {"org_id": org, "id": endpoint}
    return [
        PlanCase("lock_webhook_endpoint_quota", {"org_id": org}, ("orgs_pkey",)),
        PlanCase(
            "insert_webhook_endpoint",
            {
                "org_id": org,
                "id": new_id(),
                "url": HOOK_URL,
                "description": "",
                "event_types": ["*"],
                "secret": "whsec_" + "s" * 43,
                "enabled": True,
                "disabled_reason": None,
                "created_by": None,
                "max_endpoints": 20,
            },
            pkey,
        ),
        PlanCase("get_webhook_endpoint", one, pkey),
        PlanCase("list_webhook_endpoints", {"org_id": org, "before_id": top, "limit": 21}, pkey, "first"),
        PlanCase("list_webhook_endpoints", {"org_id": org, "before_id": endpoint, "limit": 21}, pkey, "next"),
        PlanCase(
            "update_webhook_endpoint",
            {
                **one,
                "set_url": False,
                "url": None,
                "set_event_types": False,
                "event_types": None,
                "set_description": True,
                "description": "x",
                "enabled": True,
                "disabled_reason": "disabled by a user",
            },
            pkey,
        ),
        PlanCase("delete_webhook_endpoint", one, pkey),
        PlanCase(
            "rotate_webhook_endpoint_secret",
            {**one, "secret": "whsec_" + "r" * 43, "grace_seconds": 86400.0},
            pkey,
        ),
        PlanCase(
            "list_webhook_delivery_attempts",
            {"org_id": org, "endpoint_id": endpoint, "before_id": top, "limit": 21},
            log,
            "first",
        ),
        PlanCase(
            "list_webhook_delivery_attempts",
            {"org_id": org, "endpoint_id": endpoint, "before_id": seed.middle_attempt_id, "limit": 101},
            log,
            "deep",
        ),
    ]


PLAN_CASE_IDS = [
    "lock_webhook_endpoint_quota",
    "insert_webhook_endpoint",
    "get_webhook_endpoint",
    "list_webhook_endpoints-first",
    "list_webhook_endpoints-next",
    "update_webhook_endpoint",
    "delete_webhook_endpoint",
    "rotate_webhook_endpoint_secret",
    "list_webhook_delivery_attempts-first",
    "list_webhook_delivery_attempts-deep",
]


def _ordered(name: str, params: dict[str, Any]) -> list[Any]:
    return list(sql().driver_adapter.maybe_order_params(f"outbound.{name}", params))


def _literal(value: Any) -> str:
    if isinstance(value, list):
        return "ARRAY[" + ", ".join(literal(item) for item in value) + "]::text []"
    return literal(value)


def _assert_good(explained: str, case: PlanCase, mode: str) -> None:
    check = PlanCheck.of(explained)
    bad = check.seq_scans & BIG_TABLES
    assert not bad, f"{case.id} ({mode}): Seq Scan on {sorted(bad)}"
    missing = [need for need in case.indexes if not set(need.split("|")) & check.indexes]
    assert not missing, f"{case.id} ({mode}): {sorted(missing)} not used; plan used {sorted(check.indexes)}"


def _case(seed: PlanSeed, case_id: str) -> PlanCase:
    [case] = [case for case in plan_cases(seed) if case.id == case_id]
    return case


def test_every_endpoint_query_has_a_plan_case(plan_seed: PlanSeed) -> None:
    assert [case.id for case in plan_cases(plan_seed)] == PLAN_CASE_IDS
    assert {case.query for case in plan_cases(plan_seed)} == set(PLAN_QUERIES)
    assert all((SQL_DIR / "outbound" / f"{name}.sql").exists() for name in PLAN_QUERIES)


@pytest.mark.parametrize("force_generic", [False, True], ids=["custom", "force_generic_plan"])
@pytest.mark.parametrize("case_id", PLAN_CASE_IDS)
async def test_endpoint_queries_use_their_indexes(
    plan_conn: asyncpg.Connection[Any], plan_seed: PlanSeed, case_id: str, force_generic: bool
) -> None:
    case = _case(plan_seed, case_id)
    text = getattr(sql().outbound, case.query).sql
    values = _ordered(case.query, case.params)
    transaction = plan_conn.transaction()
    await transaction.start()
    try:
        if not force_generic:
            explained = await plan_conn.fetchval(f"EXPLAIN (FORMAT JSON) {text}", *values)
            _assert_good(explained, case, "custom plan")
            return
        await plan_conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await plan_conn.execute(f"PREPARE endpoint_plan_probe AS {text}")
        args = ", ".join(_literal(value) for value in values)
        explained = await plan_conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE endpoint_plan_probe({args})")
        _assert_good(explained, case, "generic plan")
    finally:
        await transaction.rollback()
        if await plan_conn.fetchval(
            "SELECT count(*) FROM pg_prepared_statements WHERE name = 'endpoint_plan_probe'"
        ):
            await plan_conn.execute("DEALLOCATE endpoint_plan_probe")
