"""Fixtures for the abuse tests: two tenants shared by the whole package, and database digests.

Every tenant is built once through the API (an owner, an org, an admin API key, an item, a post
with a comment, a webhook endpoint and an open invitation), so each test only sends its hostile
request. Tests that change a tenant on purpose (storing SQL metacharacters) leave it valid;
tests that must change credentials (revoking a key) make their own.

`TenantDigest` is the "nothing was stored or corrupted" check: a digest of every row of the
tenant's org (and its owner's account), taken before and after a refused request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeAlias
from uuid import UUID

import anyio
import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.core.config import Settings
from app.main import create_app
from tests.core.conftest import RawResponse, asgi_request
from tests.factories import Client, User, expect_data, signed_in_user, unique
from tests.workers import drop_pending_webhook_jobs

Pool: TypeAlias = "asyncpg.Pool[Any]"

SMALL_BODY_BYTES = 2048
ACME_SECRET = "acme-abuse-secret-0123456789"


@dataclass(frozen=True)
class Tenant:
    owner: User
    member: User
    org_id: str
    key: str
    key_id: str
    item_id: str
    post_id: str
    comment_id: str
    endpoint_id: str
    invitation_id: str

    @property
    def headers(self) -> dict[str, str]:
        return self.owner.headers

    @property
    def key_headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}

    def url(self, template: str) -> str:
        """`template` with {org}, {item}, {post}, {comment}, {endpoint}, {key}, {member}, {invitation}."""
        return template.format(
            org=self.org_id,
            item=self.item_id,
            post=self.post_id,
            comment=self.comment_id,
            endpoint=self.endpoint_id,
            key=self.key_id,
            member=self.member.id,
            invitation=self.invitation_id,
        )


async def make_tenant(client: Client) -> Tenant:
    owner = await signed_in_user(client)
    member = await signed_in_user(client)
    headers = owner.headers
    org = expect_data(
        await client.post("/orgs", json={"name": "Abuse Org", "slug": unique("abuse-")}, headers=headers), 201
    )
    org_id = org["id"]
    base = f"/orgs/{org_id}"
    invitation = expect_data(
        await client.post(
            f"{base}/invitations", json={"email": member.email, "role": "member"}, headers=headers
        ),
        201,
    )
    # The member joins straight through the table: accepting needs a verified email.
    key = expect_data(
        await client.post(f"{base}/api-keys", json={"name": "abuse", "role": "admin"}, headers=headers), 201
    )
    item = expect_data(
        await client.post(
            f"{base}/items",
            json={
                "name": "Abuse item",
                "price": 100,
                "currency": "EUR",
                "tags": ["a"],
                "metadata": {"k": "v"},
            },
            headers=headers,
        ),
        201,
    )
    post = expect_data(
        await client.post(f"{base}/posts", json={"title": "Abuse post", "published": True}, headers=headers),
        201,
    )
    comment = expect_data(
        await client.post(f"{base}/posts/{post['id']}/comments", json={"body": "first"}, headers=headers),
        201,
    )
    endpoint = expect_data(
        await client.post(
            f"{base}/webhook-endpoints",
            json={"url": "https://example.com/hooks/abuse", "event_types": ["*"]},
            headers=headers,
        ),
        201,
    )
    return Tenant(
        owner=owner,
        member=member,
        org_id=org_id,
        key=key["key"],
        key_id=key["id"],
        item_id=item["id"],
        post_id=post["id"],
        comment_id=comment["id"],
        endpoint_id=endpoint["id"],
        invitation_id=invitation["id"],
    )


@pytest.fixture(scope="package")
async def tenant(client: Client, db: Pool) -> Tenant:
    built = await make_tenant(client)
    await db.execute(
        "INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, 'member')",
        UUID(built.org_id),
        UUID(built.member.id),
    )
    return built


@pytest.fixture(scope="package")
async def other_tenant(client: Client) -> Tenant:
    """A second organization with its own owner: its objects must stay invisible to `tenant`."""
    return await make_tenant(client)


# One digest per table: every column that a request could change (api_keys.last_used_at is
# written by authentication itself, so it is left out).
def _rows_digest(table: str, *, key: str = "org_id", order: str = "id", row: str = "t::text") -> str:
    rows = f"string_agg({row}, '|' ORDER BY t.{order})"
    return f"SELECT md5(coalesce({rows}, '')) FROM {table} t WHERE t.{key} = $1"


_DIGESTS = {
    "orgs": _rows_digest("orgs", key="id"),
    "org_members": _rows_digest("org_members", order="user_id"),
    "org_invitations": _rows_digest("org_invitations"),
    "api_keys": _rows_digest(
        "api_keys", row="concat_ws(',', t.id, t.name, t.role, t.expires_at, t.revoked_at)"
    ),
    **{table: _rows_digest(table) for table in ("items", "posts", "comments", "webhook_endpoints")},
    "audit_events": "SELECT count(*)::text FROM audit_events WHERE org_id = $1",
}
_OWNER_DIGEST = "SELECT md5(t::text) FROM users t WHERE id = $1"
# Row counts of every table a request could write, in any tenant (the tests of this package
# run one at a time, so nothing else writes meanwhile).
COUNTED_TABLES = (
    "users",
    "orgs",
    "org_members",
    "org_invitations",
    "api_keys",
    "audit_events",
    "items",
    "posts",
    "comments",
    "webhook_endpoints",
    "inbound_events",
    "email_outbox",
    "idempotency_keys",
    "domain_events",
    "jobs",
    "user_mfa",
)
_COUNTS = "SELECT " + ", ".join(f"(SELECT count(*) FROM {table}) AS {table}" for table in COUNTED_TABLES)


async def digest(db: Pool, tenant: Tenant) -> dict[str, str]:
    """A digest of each of the tenant's tables (and of its owner's and member's accounts)."""
    org_id = UUID(tenant.org_id)
    found = {table: await db.fetchval(query, org_id) for table, query in _DIGESTS.items()}
    found["owner"] = await db.fetchval(_OWNER_DIGEST, UUID(tenant.owner.id))
    found["member"] = await db.fetchval(_OWNER_DIGEST, UUID(tenant.member.id))
    counts = await db.fetchrow(_COUNTS)
    assert counts is not None
    found.update({f"rows:{table}": str(count) for table, count in counts.items()})
    return found


@pytest.fixture(scope="package")
def small_settings(make_settings: Callable[..., Settings]) -> Settings:
    """A small body cap, and one inbound webhook source (`acme`) with a smaller cap of its own."""
    return make_settings(
        max_request_body_bytes=str(SMALL_BODY_BYTES),
        webhook_secret_acme=ACME_SECRET,
        webhook_max_body_bytes="1024",
    )


@pytest.fixture(scope="package")
def small_app(small_settings: Settings) -> Litestar:
    return create_app(small_settings)


@pytest.fixture(scope="package")
async def small_client(small_app: Litestar) -> AsyncIterator[Client]:
    async with AsyncTestClient(small_app) as test_client:
        yield test_client


@pytest.fixture(scope="package")
async def operator(client: Client, db: Pool) -> User:
    """A platform administrator (the /admin routes)."""
    user = await signed_in_user(client)
    await db.execute("INSERT INTO platform_admins (user_id, granted_by) VALUES ($1, 'abuse')", UUID(user.id))
    return user


async def raw_request(
    client: Client,
    method: str,
    path: str,
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
    chunks: list[bytes] | None = None,
) -> RawResponse:
    """`asgi_request` (headers and chunked bodies no HTTP client sends) to the app of `client`,
    run on that app's event loop, where its database pool lives."""
    app = client.app

    async def call() -> RawResponse:
        return await asgi_request(app, method, path, headers=headers, chunks=chunks)

    return await anyio.to_thread.run_sync(client.blocking_portal.call, call)


@pytest.fixture(scope="package")
async def hooks_client(make_settings: Callable[..., Settings]) -> AsyncIterator[Client]:
    """An app with the `acme` inbound webhook source and the default body caps."""
    async with AsyncTestClient(create_app(make_settings(webhook_secret_acme=ACME_SECRET))) as test_client:
        yield test_client


@pytest.fixture(scope="package", autouse=True)
async def _no_webhook_jobs_left_behind(db: Any) -> AsyncIterator[None]:
    yield
    await drop_pending_webhook_jobs(db)
