"""API keys: creating, listing and revoking them, authenticating with them (Authorization:
Bearer or X-API-Key), the per-worker cache (no database round trip per request, revocation
across instances through Redis or, without it, within the cache lifetime), batched last-use
times, and the audit trail."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from litestar import Litestar

from app.core.config import Settings
from app.orgs.api_keys import generate_api_key
from tests.factories import (
    Client,
    digest_forms,
    expect_data,
    expect_no_content,
    expect_problem,
    signed_in_user,
)
from tests.orgs.org_helpers_keys import (
    BOTH_WAYS,
    KEY_RE,
    Via,
    add_member,
    audit_events,
    authenticator,
    create_key,
    in_app_loop,
    key_headers,
    list_keys,
    new_org,
    org_with_key,
    refused_within,
    revoke,
    running,
    split_key,
    wait_listening,
)

LIST_FIELDS = {"id", "name", "prefix", "role", "created_by", "created_at", "expires_at", "last_used_at"}


# ---- creating and listing ------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
async def test_create_returns_the_key_once_and_stores_only_its_digest(
    client: Client, db: asyncpg.Pool[Any], role: str
) -> None:
    owner = await signed_in_user(client)
    org_id = await new_org(client, owner)

    response = await client.post(
        f"/orgs/{org_id}/api-keys", json={"name": "deploy bot", "role": role}, headers=owner.headers
    )

    created = expect_data(response, 201)
    assert KEY_RE.match(created["key"]), created["key"]
    prefix, secret = split_key(created["key"])
    assert created["prefix"] == prefix
    assert created["role"] == role
    assert created["name"] == "deploy bot"
    assert created["expires_at"] is None
    assert len(secret) >= 43  # 256 random bits, base64url
    row = await db.fetchrow("SELECT * FROM api_keys WHERE id = $1", uuid.UUID(created["id"]))
    assert row is not None
    assert str(row["org_id"]) == org_id
    assert row["secret_hash"] == hashlib.sha256(secret.encode()).digest()
    assert str(row["created_by"]) == owner.id
    stored = json.dumps({k: str(v) for k, v in dict(row).items()})
    assert secret not in stored
    assert created["key"] not in stored
    audit = await db.fetch("SELECT after::text, before::text FROM audit_events WHERE org_id = $1", org_id)
    assert audit
    assert secret not in str([tuple(r) for r in audit])


async def test_every_key_is_different(client: Client) -> None:
    owner, org_id, first = await org_with_key(client)
    second = await create_key(client, org_id, owner)
    assert first["key"] != second["key"]
    assert first["prefix"] != second["prefix"]
    assert split_key(first["key"])[1] != split_key(second["key"])[1]


async def test_list_never_shows_the_secret_or_its_digest(client: Client) -> None:
    owner, org_id, first = await org_with_key(client, "admin")
    second = await create_key(client, org_id, owner, "member")

    response = await list_keys(client, org_id, owner)

    listed = expect_data(response)
    assert {item["id"] for item in listed} == {first["id"], second["id"]}
    for item in listed:
        assert set(item) == LIST_FIELDS
        assert item["created_by"] == owner.id
        assert item["last_used_at"] is None
    for created in (first, second):
        _, secret = split_key(created["key"])
        for needle in (created["key"], secret, *digest_forms(secret)):
            assert needle not in response.text


async def test_create_with_an_expiry(client: Client) -> None:
    owner = await signed_in_user(client)
    org_id = await new_org(client, owner)
    expires = datetime.now(UTC) + timedelta(days=30)

    created = await create_key(client, org_id, owner, expires_at=expires.isoformat())

    assert datetime.fromisoformat(created["expires_at"]) == expires
    expect_data(await client.get(f"/orgs/{org_id}", headers=key_headers(created["key"])))


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"name": "k", "role": "owner"}, "$.role"),
        ({"name": "k", "role": "superuser"}, "$.role"),
        ({"name": "k", "role": "viewer", "expires_at": "2001-01-01T00:00:00Z"}, "$.expires_at"),
        ({"name": "k", "role": "viewer", "expires_at": "2999-01-01T00:00:00"}, "$.expires_at"),
        ({"name": "", "role": "viewer"}, "$.name"),
        ({"name": "k", "role": "viewer", "secret": "mine"}, None),
    ],
    ids=["owner-role", "unknown-role", "past-expiry", "naive-expiry", "empty-name", "unknown-field"],
)
async def test_create_refuses_invalid_bodies(
    client: Client, db: asyncpg.Pool[Any], body: dict[str, Any], path: str | None
) -> None:
    owner = await signed_in_user(client)
    org_id = await new_org(client, owner)

    response = await client.post(f"/orgs/{org_id}/api-keys", json=body, headers=owner.headers)

    expect_problem(response, 422, "VALIDATION_ERROR", path=path)
    assert await db.fetchval("SELECT count(*) FROM api_keys WHERE org_id = $1", org_id) == 0


async def test_an_admin_user_may_manage_keys(client: Client, db: asyncpg.Pool[Any]) -> None:
    owner = await signed_in_user(client)
    admin = await signed_in_user(client)
    org_id = await new_org(client, owner)
    await add_member(db, org_id, admin, "admin")

    created = await create_key(client, org_id, admin, "admin")

    assert [item["id"] for item in expect_data(await list_keys(client, org_id, admin))] == [created["id"]]
    expect_no_content(await revoke(client, org_id, created["id"], admin))


@pytest.mark.parametrize("role", ["member", "viewer"])
async def test_members_and_viewers_cannot_manage_keys(
    client: Client, db: asyncpg.Pool[Any], role: str
) -> None:
    owner, org_id, existing = await org_with_key(client)
    user = await signed_in_user(client)
    await add_member(db, org_id, user, role)

    expect_problem(
        await client.post(
            f"/orgs/{org_id}/api-keys", json={"name": "mine", "role": "viewer"}, headers=user.headers
        ),
        403,
        "PERMISSION_DENIED",
    )
    expect_problem(await list_keys(client, org_id, user), 403, "PERMISSION_DENIED")
    expect_problem(await revoke(client, org_id, existing["id"], user), 403, "PERMISSION_DENIED")
    assert [item["id"] for item in expect_data(await list_keys(client, org_id, owner))] == [existing["id"]]


@pytest.mark.parametrize("via", BOTH_WAYS)
async def test_keys_cannot_manage_keys_not_even_an_admin_key(client: Client, via: Via) -> None:
    owner, org_id, admin_key = await org_with_key(client, "admin")
    headers = key_headers(admin_key["key"], via)

    expect_problem(
        await client.post(
            f"/orgs/{org_id}/api-keys", json={"name": "more", "role": "viewer"}, headers=headers
        ),
        403,
        "PERMISSION_DENIED",
    )
    expect_problem(await client.get(f"/orgs/{org_id}/api-keys", headers=headers), 403, "PERMISSION_DENIED")
    expect_problem(
        await client.delete(f"/orgs/{org_id}/api-keys/{admin_key['id']}", headers=headers),
        403,
        "PERMISSION_DENIED",
    )
    # Nothing was created or revoked: the key still works and is still the only one.
    expect_data(await client.get(f"/orgs/{org_id}", headers=headers))
    assert [item["id"] for item in expect_data(await list_keys(client, org_id, owner))] == [admin_key["id"]]


# ---- authenticating with a key --------------------------------------------------------------


@pytest.mark.parametrize("via", BOTH_WAYS)
async def test_a_viewer_key_reads_but_cannot_change_its_org(client: Client, via: Via) -> None:
    owner, org_id, created = await org_with_key(client, "viewer")
    headers = key_headers(created["key"], via)

    org = expect_data(await client.get(f"/orgs/{org_id}", headers=headers))
    assert org["id"] == org_id
    members = expect_data(await client.get(f"/orgs/{org_id}/members", headers=headers))
    assert [member["user_id"] for member in members] == [owner.id]
    expect_problem(
        await client.patch(f"/orgs/{org_id}", json={"name": "Taken over"}, headers=headers),
        403,
        "PERMISSION_DENIED",
    )
    assert expect_data(await client.get(f"/orgs/{org_id}", headers=owner.headers))["name"] == org["name"]


@pytest.mark.parametrize("via", BOTH_WAYS)
async def test_an_admin_key_acts_with_its_role(client: Client, db: asyncpg.Pool[Any], via: Via) -> None:
    owner, org_id, created = await org_with_key(client, "admin")
    member = await signed_in_user(client)
    await add_member(db, org_id, member, "member")
    headers = key_headers(created["key"], via)

    members = expect_data(await client.get(f"/orgs/{org_id}/members", headers=headers))
    assert {m["user_id"] for m in members} == {owner.id, member.id}
    renamed = expect_data(await client.patch(f"/orgs/{org_id}", json={"name": "Renamed"}, headers=headers))
    assert renamed["name"] == "Renamed"
    # Admin, not owner: it cannot touch the owner nor delete the org.
    expect_problem(
        await client.patch(f"/orgs/{org_id}/members/{owner.id}", json={"role": "viewer"}, headers=headers),
        403,
        "PERMISSION_DENIED",
    )
    expect_problem(await client.delete(f"/orgs/{org_id}", headers=headers), 403, "PERMISSION_DENIED")


@pytest.mark.parametrize("via", BOTH_WAYS)
async def test_a_key_is_unknown_to_other_orgs(client: Client, via: Via) -> None:
    _, _, created = await org_with_key(client, "admin")
    other_owner = await signed_in_user(client)
    other_org = await new_org(client, other_owner)
    headers = key_headers(created["key"], via)

    for path in (f"/orgs/{other_org}", f"/orgs/{other_org}/members", f"/orgs/{uuid.uuid4()}"):
        expect_problem(await client.get(path, headers=headers), 404, "NOT_FOUND")
    expect_problem(
        await client.patch(f"/orgs/{other_org}", json={"name": "Hijacked"}, headers=headers), 404, "NOT_FOUND"
    )


def _bad_keys(valid: str) -> dict[str, str]:
    prefix, secret = split_key(valid)
    return {
        "wrong-secret": f"sk_{prefix}_{secret[:-4]}AAAA"
        if not secret.endswith("AAAA")
        else f"sk_{prefix}_B{secret[1:]}",
        "secret-only-prefix": f"sk_{prefix}_{secret[:10]}",
        "unknown-prefix": generate_api_key().key,
        "uppercase-prefix": f"sk_{prefix.upper()}_{secret}",
        "short-prefix": f"sk_{prefix[:11]}_{secret}",
        "no-secret": f"sk_{prefix}_",
        "no-separator": f"sk_{prefix}{secret}",
        "just-the-mark": "sk_",
        "too-long": f"sk_{prefix}_{secret}{'a' * 300}",
    }


@pytest.mark.parametrize("via", BOTH_WAYS)
async def test_bad_keys_are_refused_as_invalid_tokens(client: Client, via: Via) -> None:
    _, org_id, created = await org_with_key(client, "admin")

    for name, bad in _bad_keys(created["key"]).items():
        response = await client.get(f"/orgs/{org_id}", headers=key_headers(bad, via))
        assert response.status_code == 401, (name, response.text)
        expect_problem(response, 401, "INVALID_TOKEN")
    expect_data(await client.get(f"/orgs/{org_id}", headers=key_headers(created["key"], via)))


async def test_x_api_key_carries_only_api_keys(client: Client) -> None:
    owner, org_id, _ = await org_with_key(client)
    expect_problem(
        await client.get(f"/orgs/{org_id}", headers={"X-API-Key": owner.access_token}), 401, "INVALID_TOKEN"
    )


@pytest.mark.parametrize("via", BOTH_WAYS)
async def test_an_expired_key_is_refused(client: Client, db: asyncpg.Pool[Any], via: Via) -> None:
    _, org_id, created = await org_with_key(client)
    await db.execute(
        "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1", uuid.UUID(created["id"])
    )

    expect_problem(
        await client.get(f"/orgs/{org_id}", headers=key_headers(created["key"], via)), 401, "INVALID_TOKEN"
    )


async def test_a_cached_key_stops_working_when_it_expires(client: Client) -> None:
    owner = await signed_in_user(client)
    org_id = await new_org(client, owner)
    expires = datetime.now(UTC) + timedelta(seconds=1)
    created = await create_key(client, org_id, owner, expires_at=expires.isoformat())
    path = f"/orgs/{org_id}"

    expect_data(await client.get(path, headers=key_headers(created["key"])))  # now cached
    waited = await refused_within(client, path, created["key"], seconds=3)

    assert datetime.now(UTC) >= expires
    assert waited < 3


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/users/me"), ("GET", "/orgs"), ("POST", "/orgs")],
    ids=["me", "orgs", "create-org"],
)
async def test_keys_do_not_work_on_user_routes(client: Client, method: str, path: str) -> None:
    _, _, created = await org_with_key(client, "admin")
    body = {"name": "Made by a key", "slug": "made-by-a-key"} if method == "POST" else None

    bearer = await client.request(method, path, json=body, headers=key_headers(created["key"], "bearer"))
    expect_problem(bearer, 401, "INVALID_TOKEN")
    header = await client.request(method, path, json=body, headers=key_headers(created["key"], "x-api-key"))
    assert header.status_code == 401, header.text


# ---- revocation -----------------------------------------------------------------------------


@pytest.mark.parametrize("via", BOTH_WAYS)
async def test_a_revoked_key_is_refused_at_once(client: Client, via: Via) -> None:
    owner, org_id, created = await org_with_key(client)
    headers = key_headers(created["key"], via)
    for _ in range(3):  # cached now
        expect_data(await client.get(f"/orgs/{org_id}", headers=headers))

    expect_no_content(await revoke(client, org_id, created["id"], owner))

    expect_problem(await client.get(f"/orgs/{org_id}", headers=headers), 401, "INVALID_TOKEN")
    assert expect_data(await list_keys(client, org_id, owner)) == []
    expect_problem(await revoke(client, org_id, created["id"], owner), 404, "NOT_FOUND")


async def test_revoking_an_unknown_key_is_not_found(client: Client) -> None:
    owner, org_id, _ = await org_with_key(client)
    expect_problem(await revoke(client, org_id, str(uuid.uuid4()), owner), 404, "NOT_FOUND")


async def test_a_key_cannot_be_revoked_through_another_org(client: Client) -> None:
    owner, org_id, created = await org_with_key(client)
    other_org = await new_org(client, owner)  # the same owner, another org

    expect_problem(await revoke(client, other_org, created["id"], owner), 404, "NOT_FOUND")

    expect_data(await client.get(f"/orgs/{org_id}", headers=key_headers(created["key"])))


async def test_deleting_the_org_stops_its_keys_at_once(client: Client, db: asyncpg.Pool[Any]) -> None:
    owner, org_id, created = await org_with_key(client, "admin")
    second = await create_key(client, org_id, owner, "viewer")
    for key in (created["key"], second["key"]):
        expect_data(await client.get(f"/orgs/{org_id}", headers=key_headers(key)))  # cached

    expect_no_content(await client.delete(f"/orgs/{org_id}", headers=owner.headers))

    for key in (created["key"], second["key"]):
        for via in BOTH_WAYS:
            expect_problem(
                await client.get(f"/orgs/{org_id}", headers=key_headers(key, via)), 401, "INVALID_TOKEN"
            )
    revoked = await db.fetchval(
        "SELECT count(*) FROM api_keys WHERE org_id = $1 AND revoked_at IS NOT NULL", org_id
    )
    assert revoked == 2


# ---- the cache --------------------------------------------------------------------------------


async def test_steady_state_needs_no_database_round_trip(client: Client, app: Litestar) -> None:
    _, org_id, created = await org_with_key(client)
    keys = authenticator(app)
    expect_data(await client.get(f"/orgs/{org_id}", headers=key_headers(created["key"])))
    misses, hits = keys.cache_misses, keys.cache_hits

    for i in range(50):
        via = BOTH_WAYS[i % 2]
        expect_data(await client.get(f"/orgs/{org_id}", headers=key_headers(created["key"], via)))

    assert keys.cache_misses == misses
    assert keys.cache_hits >= hits + 50


async def test_revocation_reaches_another_instance_through_redis(
    make_settings: Callable[..., Settings],
) -> None:
    # A 60 s cache lifetime: only the pub/sub message can explain a fast refusal on B.
    settings = make_settings(api_key_cache_seconds="60")
    async with running(settings) as (app_a, client_a), running(settings) as (app_b, client_b):
        await wait_listening(app_a)
        await wait_listening(app_b)
        owner, org_id, created = await org_with_key(client_a)
        path = f"/orgs/{org_id}"
        expect_data(await client_b.get(path, headers=key_headers(created["key"])))
        misses = authenticator(app_b).cache_misses
        expect_data(await client_b.get(path, headers=key_headers(created["key"])))
        assert authenticator(app_b).cache_misses == misses  # B answers from its cache

        expect_no_content(await revoke(client_a, org_id, created["id"], owner))

        waited = await refused_within(client_b, path, created["key"], seconds=5)
        assert waited < 5
        expect_problem(await client_a.get(path, headers=key_headers(created["key"])), 401, "INVALID_TOKEN")


async def test_without_redis_the_cache_lifetime_bounds_revocation(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(redis_url="", api_key_cache_seconds="1")
    assert settings.redis_url is None
    async with running(settings) as (app_a, client_a), running(settings) as (app_b, client_b):
        assert not authenticator(app_a).listening.is_set()
        owner, org_id, created = await org_with_key(client_a)
        path = f"/orgs/{org_id}"
        expect_data(await client_b.get(path, headers=key_headers(created["key"])))  # cached in B for 1 s
        loop = asyncio.get_running_loop()
        cached_at = loop.time()

        expect_no_content(await revoke(client_a, org_id, created["id"], owner))

        expect_problem(await client_a.get(path, headers=key_headers(created["key"])), 401, "INVALID_TOKEN")
        if loop.time() - cached_at < 0.8:
            # B has not heard of the revocation: it trusts its entry until the entry expires.
            expect_data(await client_b.get(path, headers=key_headers(created["key"])))
        waited = await refused_within(client_b, path, created["key"], seconds=2.5)
        assert loop.time() - cached_at < 2.5, waited
        assert authenticator(app_b).cache_misses >= 2


# ---- last use -------------------------------------------------------------------------------


async def test_last_use_is_written_in_a_batch_not_per_request(
    make_settings: Callable[..., Settings], db: asyncpg.Pool[Any]
) -> None:
    settings = make_settings(api_key_last_used_flush_seconds="3600")  # only an explicit flush writes
    async with running(settings) as (app, test_client):
        owner, org_id, created = await org_with_key(test_client, "admin")
        second = await create_key(test_client, org_id, owner, "viewer")
        key_id = uuid.UUID(created["id"])
        before = datetime.now(UTC)
        for via in BOTH_WAYS:
            for _ in range(5):
                expect_data(
                    await test_client.get(f"/orgs/{org_id}", headers=key_headers(created["key"], via))
                )

        assert await db.fetchval("SELECT last_used_at FROM api_keys WHERE id = $1", key_id) is None
        listed = {item["id"]: item for item in expect_data(await list_keys(test_client, org_id, owner))}
        assert listed[created["id"]]["last_used_at"] is None

        await in_app_loop(test_client, authenticator(app).flush_last_used)
        after = datetime.now(UTC)

        listed = {item["id"]: item for item in expect_data(await list_keys(test_client, org_id, owner))}
        used_at = listed[created["id"]]["last_used_at"]
        assert used_at is not None
        assert before <= datetime.fromisoformat(used_at) <= after
        assert listed[second["id"]]["last_used_at"] is None  # never used
        stored = await db.fetchval("SELECT last_used_at FROM api_keys WHERE id = $1", key_id)
        assert stored == datetime.fromisoformat(used_at)

        # A later use moves it forward, again only when flushed.
        expect_data(await test_client.get(f"/orgs/{org_id}", headers=key_headers(created["key"])))
        assert await db.fetchval("SELECT last_used_at FROM api_keys WHERE id = $1", key_id) == stored
        await in_app_loop(test_client, authenticator(app).flush_last_used)
        assert await db.fetchval("SELECT last_used_at FROM api_keys WHERE id = $1", key_id) > stored


# ---- audit ----------------------------------------------------------------------------------


async def test_creating_and_revoking_a_key_is_audited_as_the_user(client: Client) -> None:
    owner, org_id, created = await org_with_key(client, "member")

    expect_no_content(await revoke(client, org_id, created["id"], owner))

    [made] = await audit_events(client, org_id, owner, "api_key.created")
    [revoked] = await audit_events(client, org_id, owner, "api_key.revoked")
    for event in (made, revoked):
        assert event["actor_type"] == "user"
        assert event["actor_id"] == owner.id
        assert event["target_type"] == "api_key"
        assert event["target_id"] == created["id"]
    assert made["after"] == {"name": created["name"], "role": "member", "prefix": created["prefix"]}
    assert revoked["before"] == {"name": created["name"], "role": "member", "prefix": created["prefix"]}
    _, secret = split_key(created["key"])
    assert secret not in json.dumps([made, revoked])


@pytest.mark.parametrize("via", BOTH_WAYS)
async def test_changes_made_with_a_key_are_audited_as_the_key(
    client: Client, db: asyncpg.Pool[Any], via: Via
) -> None:
    owner, org_id, created = await org_with_key(client, "admin")
    member = await signed_in_user(client)
    await add_member(db, org_id, member, "member")

    changed = expect_data(
        await client.patch(
            f"/orgs/{org_id}/members/{member.id}",
            json={"role": "viewer"},
            headers=key_headers(created["key"], via),
        )
    )

    assert changed["role"] == "viewer"
    [event] = await audit_events(client, org_id, owner, "member.role_changed")
    assert event["actor_type"] == "api_key"
    assert event["actor_id"] == created["id"]
    assert event["target_id"] == member.id
    assert event["before"] == {"role": "member"}
    assert event["after"] == {"role": "viewer"}
    by_key = expect_data(
        await client.get(f"/orgs/{org_id}/audit", params={"actor_id": created["id"]}, headers=owner.headers)
    )
    assert [e["action"] for e in by_key] == ["member.role_changed"]
