"""Every caller kind against every org-scoped route: the status follows the permission table.

The route table below is checked against the app's own route list, so a new route under
/orgs/{org_id} that nobody classified fails here. Each case runs on a fresh org (rows written
directly, which keeps the matrix fast), so destructive calls cannot affect other cases.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import pytest
from litestar import Litestar

from app.orgs.api_keys import generate_api_key
from app.orgs.permissions import Permission, Role, role_allows
from tests.factories import Client, User, signed_in_user, unique
from tests.test_authorization_matrix import ORG_SCOPED, app_routes


class Route(NamedTuple):
    method: str
    path: str
    permission: Permission
    users_only: bool
    body: Callable[[OrgCase], dict[str, Any] | None]


class OrgCase(NamedTuple):
    org_id: str
    target_user_id: str
    invitation_id: str
    key_id: str
    credentials: dict[str, dict[str, str]]  # caller kind -> headers


def no_body(_: OrgCase) -> None:
    return None


ROUTES = [
    Route("GET", "/orgs/{org_id:uuid}", Permission.ORG_READ, False, no_body),
    Route("PATCH", "/orgs/{org_id:uuid}", Permission.ORG_UPDATE, False, lambda _: {"name": "Renamed"}),
    Route("DELETE", "/orgs/{org_id:uuid}", Permission.ORG_DELETE, True, no_body),
    Route(
        "POST",
        "/orgs/{org_id:uuid}/transfer-ownership",
        Permission.ORG_TRANSFER,
        True,
        lambda case: {"user_id": case.target_user_id},
    ),
    Route("POST", "/orgs/{org_id:uuid}/leave", Permission.ORG_READ, True, no_body),
    Route("GET", "/orgs/{org_id:uuid}/members", Permission.MEMBERS_READ, False, no_body),
    Route(
        "PATCH",
        "/orgs/{org_id:uuid}/members/{user_id:uuid}",
        Permission.MEMBERS_MANAGE,
        False,
        lambda _: {"role": "viewer"},
    ),
    Route("DELETE", "/orgs/{org_id:uuid}/members/{user_id:uuid}", Permission.MEMBERS_MANAGE, False, no_body),
    Route(
        "POST",
        "/orgs/{org_id:uuid}/invitations",
        Permission.INVITATIONS_MANAGE,
        True,
        lambda _: {"email": f"{unique('inv')}@example.com", "role": "member"},
    ),
    Route("GET", "/orgs/{org_id:uuid}/invitations", Permission.INVITATIONS_MANAGE, True, no_body),
    Route(
        "DELETE",
        "/orgs/{org_id:uuid}/invitations/{invitation_id:uuid}",
        Permission.INVITATIONS_MANAGE,
        True,
        no_body,
    ),
    Route(
        "POST",
        "/orgs/{org_id:uuid}/api-keys",
        Permission.API_KEYS_MANAGE,
        True,
        lambda _: {"name": "matrix", "role": "viewer"},
    ),
    Route("GET", "/orgs/{org_id:uuid}/api-keys", Permission.API_KEYS_MANAGE, True, no_body),
    Route("DELETE", "/orgs/{org_id:uuid}/api-keys/{key_id:uuid}", Permission.API_KEYS_MANAGE, True, no_body),
    Route("GET", "/orgs/{org_id:uuid}/audit", Permission.AUDIT_READ, False, no_body),
]
USER_CALLERS = [Role.OWNER, Role.ADMIN, Role.MEMBER, Role.VIEWER]
KEY_CALLERS = [Role.ADMIN, Role.MEMBER, Role.VIEWER]
CALLERS = [f"user:{r.value}" for r in USER_CALLERS] + [f"key:{r.value}" for r in KEY_CALLERS]


def expected_allowed(route: Route, caller: str) -> bool:
    kind, role = caller.split(":")
    is_key = kind == "key"
    if route.users_only and is_key:
        return False
    return role_allows(Role(role), route.permission, is_api_key=is_key)


def concrete(route: Route, case: OrgCase) -> str:
    return (
        route.path.replace("{org_id:uuid}", case.org_id)
        .replace("{user_id:uuid}", case.target_user_id)
        .replace("{invitation_id:uuid}", case.invitation_id)
        .replace("{key_id:uuid}", case.key_id)
    )


def test_the_table_covers_every_org_scoped_route(app: Litestar) -> None:
    table = {(r.method, r.path) for r in ROUTES}
    scoped = {route for route in app_routes(app) if route[1].startswith("/orgs/{org_id")}
    assert table == scoped == ORG_SCOPED


@pytest.fixture(scope="module")
async def people(client: Client) -> dict[str, User]:
    """One user per role, a second owner (so owners may leave) and a target member."""
    names = [*[r.value for r in USER_CALLERS], "owner2", "target"]
    return {name: await signed_in_user(client) for name in names}


async def new_org(db: Any, people: dict[str, User]) -> OrgCase:
    org_id = str(uuid.uuid4())
    await db.execute(
        "INSERT INTO orgs (id, name, slug, created_by) VALUES ($1, 'Matrix', $2, $3)",
        org_id,
        unique("m").replace("_", "-").lower()[:40],
        people["owner"].id,
    )
    roles = {"owner": "owner", "admin": "admin", "member": "member", "viewer": "viewer", "owner2": "owner"}
    roles["target"] = "member"
    for name, role in roles.items():
        await db.execute(
            "INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, $3)",
            org_id,
            people[name].id,
            role,
        )
    invitation_id = str(uuid.uuid4())
    await db.execute(
        "INSERT INTO org_invitations (org_id, id, email, role, token_hash, expires_at)"
        " VALUES ($1, $2, $3, 'member', $4, $5)",
        org_id,
        invitation_id,
        f"{unique('i')}@example.com",
        uuid.uuid4().bytes * 2,
        datetime.now(UTC) + timedelta(days=1),
    )
    credentials = {f"user:{name}": {"Authorization": f"Bearer {people[name].access_token}"} for name in roles}
    key_id = ""
    # One key per key role, then a spare key: the target of DELETE .../api-keys/{key_id}.
    for caller in [*[f"key:{r.value}" for r in KEY_CALLERS], "spare"]:
        new_key = generate_api_key()
        key_id = str(uuid.uuid4())
        await db.execute(
            "INSERT INTO api_keys (org_id, id, prefix, secret_hash, name, role)"
            " VALUES ($1, $2, $3, $4, 'k', $5)",
            org_id,
            key_id,
            new_key.prefix,
            new_key.secret_hash,
            caller.removeprefix("key:") if caller != "spare" else "viewer",
        )
        credentials[caller] = {"X-API-Key": new_key.key}
    return OrgCase(org_id, people["target"].id, invitation_id, key_id, credentials)


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
async def test_role_matrix(
    client: Client, db: Any, people: dict[str, User], route: Route, caller: str
) -> None:
    case = await new_org(db, people)
    body = route.body(case)
    response = await client.request(
        route.method, concrete(route, case), headers=case.credentials[caller], json=body
    )

    if expected_allowed(route, caller):
        assert 200 <= response.status_code < 300, f"{caller} {route.method} {route.path}: {response.text}"
    else:
        assert response.status_code == 403, f"{caller} {route.method} {route.path}: {response.text}"
        assert response.json()["code"] == "PERMISSION_DENIED"


@pytest.mark.parametrize("kind", ["user", "key"])
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
async def test_another_orgs_routes_answer_404(
    client: Client, db: Any, people: dict[str, User], route: Route, kind: str
) -> None:
    mine = await new_org(db, people)
    theirs = await new_org(db, {**people, "owner": await signed_in_user(client)})
    await db.execute(
        "DELETE FROM org_members WHERE org_id = $1 AND user_id = $2", theirs.org_id, people["owner"].id
    )
    headers = mine.credentials["user:owner" if kind == "user" else "key:admin"]

    response = await client.request(
        route.method, concrete(route, theirs), headers=headers, json=route.body(theirs)
    )

    assert response.status_code == 404, response.text
    assert response.json()["code"] == "NOT_FOUND"
