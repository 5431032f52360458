"""Path traversal, junk and foreign ids in paths: 404, never 500, never another tenant's data,
and nothing changed in either tenant."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from tests.abuse.conftest import Pool, Tenant, digest, raw_request
from tests.factories import Client, User, expect_problem

# (method, template with {id} where the junk goes, body)
ID_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/orgs/{id}", None),
    ("PATCH", "/orgs/{id}", {"name": "x"}),
    ("GET", "/orgs/{org}/items/{id}", None),
    ("PATCH", "/orgs/{org}/items/{id}", {"name": "x"}),
    ("DELETE", "/orgs/{org}/items/{id}", None),
    ("GET", "/orgs/{org}/posts/{id}", None),
    ("PATCH", "/orgs/{org}/posts/{post}/comments/{id}", {"body": "x"}),
    ("DELETE", "/orgs/{org}/api-keys/{id}", None),
    ("DELETE", "/orgs/{org}/invitations/{id}", None),
    ("PATCH", "/orgs/{org}/members/{id}", {"role": "viewer"}),
    ("GET", "/orgs/{org}/webhook-endpoints/{id}/deliveries", None),
    ("POST", "/orgs/{org}/webhook-endpoints/{id}/rotate-secret", None),
    ("DELETE", "/auth/sessions/{id}", None),
    ("GET", "/users/{id}", None),
]
# No bare "..": an HTTP client resolves "/orgs/x/items/.." to "/orgs/x" before sending (a real
# org route). The raw traversal tests below send dots byte for byte.
JUNK_IDS = {
    "not-a-uuid": "not-a-uuid",
    "quote": "' OR '1'='1",
    "number": "-1",
    "nil-uuid": "00000000-0000-0000-0000-000000000000",
    "braces": "{01a226e7-8c8b-722e-8dde-b2d2f0dc1268}",
    "urn": "urn:uuid:01a226e7-8c8b-722e-8dde-b2d2f0dc1268",
    "trailing": "01a226e7-8c8b-722e-8dde-b2d2f0dc1268x",
    "long": "a" * 5000,
    "unicode": "\u00e9\u202e\ufeff",
    "encoded-dotdot-slash": "%2e%2e%2f",
    "encoded-slash": "..%2F..%2Forgs",
    "percent": "%",
}
JUNK_CASES = [(method, template, body, junk) for method, template, body in ID_ROUTES for junk in JUNK_IDS]


@pytest.mark.parametrize(
    ("method", "template", "body", "junk"),
    JUNK_CASES,
    ids=[f"{m} {t}={j}" for m, t, _, j in JUNK_CASES],
)
async def test_junk_id_is_404(
    client: Client,
    db: Pool,
    tenant: Tenant,
    method: str,
    template: str,
    body: dict[str, Any] | None,
    junk: str,
) -> None:
    before = await digest(db, tenant)
    path = tenant.url(template.replace("{id}", "{{id}}")).replace("{id}", JUNK_IDS[junk])

    response = await client.request(method, path, json=body, headers=tenant.headers)

    expect_problem(response, 404, "NOT_FOUND")
    assert await digest(db, tenant) == before


TRAVERSALS = [
    "/orgs/{org}/items/../../{other_org}/items/{other_item}",
    "/orgs/{org}/items/%2e%2e/%2e%2e/{other_org}/items/{other_item}",
    "/orgs/{org}/items/..%2f..%2f{other_org}%2fitems%2f{other_item}",
    "/orgs/{org}/items/{item}/../../../../etc/passwd",
    "/orgs/{org}/./items/./{other_item}",
    "/orgs/{org}//items//{other_item}",
]
# Resolved by an HTTP client to the caller's own item list: sent raw only.
RAW_ONLY = ["/orgs/{org}/items/{other_item}/.."]


def traversal(template: str, tenant: Tenant, other: Tenant) -> str:
    return template.format(
        org=tenant.org_id, item=tenant.item_id, other_org=other.org_id, other_item=other.item_id
    )


@pytest.mark.parametrize("template", TRAVERSALS + RAW_ONLY)
async def test_raw_path_traversal_is_404_without_the_other_tenants_data(
    client: Client, tenant: Tenant, other_tenant: Tenant, template: str
) -> None:
    """Sent byte for byte (no client normalises the dots away): the router never resolves them."""
    path = traversal(template, tenant, other_tenant)
    headers = [(name.lower().encode(), value.encode()) for name, value in tenant.headers.items()]

    response = await raw_request(client, "GET", path, headers=headers)

    assert response.status == 404, response.body
    assert response.json()["code"] == "NOT_FOUND"
    assert other_tenant.item_id.encode() not in response.body
    assert b"Abuse item" not in response.body


@pytest.mark.parametrize("template", TRAVERSALS)
async def test_client_path_traversal_is_404_without_the_other_tenants_data(
    client: Client, tenant: Tenant, other_tenant: Tenant, template: str
) -> None:
    """Through an HTTP client, which may normalise `..`: still never the other tenant's item."""
    response = await client.get(traversal(template, tenant, other_tenant), headers=tenant.headers)

    expect_problem(response, 404, "NOT_FOUND")
    assert other_tenant.item_id not in response.text


# ---- another tenant's ids -----------------------------------------------------------------------

FOREIGN = [
    ("GET", "/orgs/{org}/items/{item}", None),
    ("PATCH", "/orgs/{org}/items/{item}", {"name": "stolen"}),
    ("DELETE", "/orgs/{org}/items/{item}", None),
    ("GET", "/orgs/{org}/posts/{post}", None),
    ("PATCH", "/orgs/{org}/posts/{post}", {"title": "stolen"}),
    ("DELETE", "/orgs/{org}/posts/{post}", None),
    ("GET", "/orgs/{org}/posts/{post}/comments", None),
    ("POST", "/orgs/{org}/posts/{post}/comments", {"body": "stolen"}),
    ("PATCH", "/orgs/{org}/posts/{post}/comments/{comment}", {"body": "stolen"}),
    ("DELETE", "/orgs/{org}/posts/{post}/comments/{comment}", None),
    ("GET", "/orgs/{org}/webhook-endpoints/{endpoint}", None),
    ("PATCH", "/orgs/{org}/webhook-endpoints/{endpoint}", {"description": "stolen"}),
    ("POST", "/orgs/{org}/webhook-endpoints/{endpoint}/rotate-secret", None),
    ("GET", "/orgs/{org}/webhook-endpoints/{endpoint}/deliveries", None),
    ("DELETE", "/orgs/{org}/webhook-endpoints/{endpoint}", None),
    ("DELETE", "/orgs/{org}/api-keys/{key}", None),
    ("DELETE", "/orgs/{org}/invitations/{invitation}", None),
    ("PATCH", "/orgs/{org}/members/{member}", {"role": "viewer"}),
    ("DELETE", "/orgs/{org}/members/{member}", None),
]
# Routes no API key may use: a key hears 403 in its own org whatever the object.
USERS_ONLY = {
    ("PATCH", "/orgs/{org}/posts/{post}"),
    ("DELETE", "/orgs/{org}/posts/{post}"),
    ("POST", "/orgs/{org}/posts/{post}/comments"),
    ("PATCH", "/orgs/{org}/posts/{post}/comments/{comment}"),
    ("DELETE", "/orgs/{org}/posts/{post}/comments/{comment}"),
    ("DELETE", "/orgs/{org}/api-keys/{key}"),
    ("DELETE", "/orgs/{org}/invitations/{invitation}"),
}


def foreign_path(template: str, mine: Tenant, theirs: Tenant, *, own_org: bool) -> str:
    """`template` with `theirs`'s object ids, under `mine`'s org (own_org) or `theirs`'s."""
    return template.format(
        org=mine.org_id if own_org else theirs.org_id,
        item=theirs.item_id,
        post=theirs.post_id,
        comment=theirs.comment_id,
        endpoint=theirs.endpoint_id,
        key=theirs.key_id,
        invitation=theirs.invitation_id,
        member=theirs.owner.id,
    )


@pytest.mark.parametrize("caller", ["user", "key"])
@pytest.mark.parametrize("own_org", [True, False], ids=["under-own-org", "under-their-org"])
@pytest.mark.parametrize(("method", "template", "body"), FOREIGN, ids=[f"{m} {t}" for m, t, _ in FOREIGN])
async def test_another_tenants_object_is_404_and_untouched(
    client: Client,
    db: Pool,
    tenant: Tenant,
    other_tenant: Tenant,
    method: str,
    template: str,
    body: dict[str, Any] | None,
    own_org: bool,
    caller: str,
) -> None:
    before = await digest(db, other_tenant)
    headers = tenant.headers if caller == "user" else tenant.key_headers

    response = await client.request(
        method, foreign_path(template, tenant, other_tenant, own_org=own_org), json=body, headers=headers
    )

    if caller == "key" and own_org and (method, template) in USERS_ONLY:
        expect_problem(response, 403, "PERMISSION_DENIED")
    else:
        expect_problem(response, 404, "NOT_FOUND")
    for secret in (other_tenant.item_id, other_tenant.post_id, "Abuse item", "Abuse post"):
        assert secret not in response.text
    assert await digest(db, other_tenant) == before


async def test_another_users_session_is_404(
    client: Client, db: Pool, tenant: Tenant, other_tenant: Tenant
) -> None:
    session_id = await db.fetchval(
        "SELECT id FROM auth_sessions WHERE user_id = $1 AND revoked_at IS NULL LIMIT 1",
        UUID(other_tenant.owner.id),
    )
    assert session_id is not None

    response = await client.delete(f"/auth/sessions/{session_id}", headers=tenant.headers)

    expect_problem(response, 404, "NOT_FOUND")
    assert await db.fetchval("SELECT revoked_at FROM auth_sessions WHERE id = $1", session_id) is None


@pytest.mark.parametrize("junk", ["..", "' OR '1'='1", "a" * 5000])
async def test_junk_admin_job_id_is_404(client: Client, junk: str, operator: User) -> None:
    expect_problem(await client.get(f"/admin/jobs/{junk}", headers=operator.headers), 404, "NOT_FOUND")
