"""Helpers for tests/orgs/test_role_matrix.py.

Orgs for the matrix are written straight into the database (fast: no argon2, no HTTP), with one
member per role, a second owner (so an owner may leave), a target member, an open invitation,
one API key per key role and a spare key to revoke, and for every person and key an item it
created, a published post and a comment (OrgCase.resources).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from litestar import Litestar
from litestar.routes import HTTPRoute

from app.orgs.api_keys import generate_api_key
from app.orgs.auth import ORG_ACCESS, OrgAccess
from app.orgs.permissions import Permission, Role
from tests.factories import Client, User, expect_data, unique

__all__ = [
    "CALLERS",
    "KEY_CALLERS",
    "MEMBER_NAMES",
    "USER_CALLERS",
    "OrgCase",
    "api_org",
    "audit_events",
    "guard_requirements",
    "is_org_not_found",
    "org_scoped_routes",
    "seed_org",
]

USER_CALLERS = ("user:owner", "user:admin", "user:member", "user:viewer")
KEY_CALLERS = ("key:admin", "key:member", "key:viewer")
CALLERS = (*USER_CALLERS, *KEY_CALLERS)
# Everyone seeded into a matrix org, with their role: the four callers, a second owner and the
# member that member routes act on.
MEMBER_NAMES = {
    "owner": Role.OWNER,
    "admin": Role.ADMIN,
    "member": Role.MEMBER,
    "viewer": Role.VIEWER,
    "owner2": Role.OWNER,
    "target": Role.MEMBER,
}
NO_SUCH_ORG = "No such organization."


@dataclass(frozen=True)
class OrgCase:
    org_id: str
    target_user_id: str
    invitation_id: str
    spare_key_id: str
    credentials: dict[str, dict[str, str]]  # caller kind ("user:admin", "key:viewer") -> headers
    # Per caller ("user:<name>" for everyone in MEMBER_NAMES, and the key callers): an item it
    # created, and a published post and a comment on it by that user (the owner's, for keys, which
    # write no posts). Acting on its own resources, a caller meets object rules that allow what
    # its role allows; "user:target"'s are someone else's for every caller.
    resources: dict[str, dict[str, str]]
    # A webhook endpoint of the org, for the /webhook-endpoints/{endpoint_id} routes.
    endpoint_id: str = ""

    def path(self, template: str, caller: str = "user:owner", owner: str | None = None) -> str:
        """`template` filled in; sub-resources are `owner`'s (default: the caller's own)."""
        own = self.resources[owner or caller]
        return (
            template.replace("{org_id:uuid}", self.org_id)
            .replace("{user_id:uuid}", self.target_user_id)
            .replace("{invitation_id:uuid}", self.invitation_id)
            .replace("{key_id:uuid}", self.spare_key_id)
            .replace("{item_id:uuid}", own["item_id"])
            .replace("{post_id:uuid}", own["post_id"])
            .replace("{comment_id:uuid}", own["comment_id"])
            .replace("{endpoint_id:uuid}", self.endpoint_id)
        )


async def seed_org(db: asyncpg.Pool[Any], people: dict[str, User]) -> OrgCase:
    """A fresh org with every caller kind in it; see the module docstring."""
    org_id = str(uuid.uuid4())
    await db.execute(
        "INSERT INTO orgs (id, name, slug, created_by) VALUES ($1, 'Matrix', $2, $3)",
        org_id,
        unique("mx-"),
        people["owner"].id,
    )
    await db.executemany(
        "INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, $3)",
        [(org_id, people[name].id, role.value) for name, role in MEMBER_NAMES.items()],
    )
    invitation_id = str(uuid.uuid4())
    await db.execute(
        "INSERT INTO org_invitations (org_id, id, email, role, token_hash, expires_at)"
        " VALUES ($1, $2, $3, 'member', $4, $5)",
        org_id,
        invitation_id,
        f"{unique('inv')}@example.com",
        uuid.uuid4().bytes * 2,
        datetime.now(UTC) + timedelta(days=1),
    )
    credentials = {f"user:{name}": people[name].headers for name in MEMBER_NAMES}
    spare_key_id = ""
    key_ids: dict[str, str] = {}
    for caller in (*KEY_CALLERS, "spare"):
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
        key_ids[caller] = key_id
        spare_key_id = key_id
    resources = await _seed_resources(db, org_id, people, key_ids)
    endpoint_id = str(uuid.uuid4())
    await db.execute(
        "INSERT INTO webhook_endpoints (org_id, id, url, event_types, secret)"
        " VALUES ($1, $2, 'https://example.com/hooks/matrix', '{*}', $3)",
        org_id,
        endpoint_id,
        "whsec_" + uuid.uuid4().hex,
    )
    return OrgCase(
        org_id,
        people["target"].id,
        invitation_id,
        spare_key_id,
        credentials,
        resources,
        endpoint_id=endpoint_id,
    )


async def _seed_resources(
    db: asyncpg.Pool[Any], org_id: str, people: dict[str, User], key_ids: dict[str, str]
) -> dict[str, dict[str, str]]:
    """An item per person and per key, and a published post with a comment per person; keys,
    which write no posts, get the owner's. See OrgCase.resources. Three round trips in all."""
    authors = {f"user:{name}": people[name].id for name in MEMBER_NAMES}
    creators = {caller: ("user", user_id) for caller, user_id in authors.items()}
    creators |= {caller: ("api_key", key_ids[caller]) for caller in KEY_CALLERS}
    resources = {
        caller: {"post_id": str(uuid.uuid4()), "comment_id": str(uuid.uuid4())} for caller in authors
    }
    resources |= {caller: dict(resources["user:owner"]) for caller in KEY_CALLERS}
    for own in resources.values():
        own["item_id"] = str(uuid.uuid4())
    await db.executemany(
        "INSERT INTO posts (org_id, id, author_id, title, body, published, published_at)"
        " VALUES ($1, $2, $3, 'Matrix post', '', true, now())",
        [(org_id, resources[caller]["post_id"], author) for caller, author in authors.items()],
    )
    await db.executemany(
        "INSERT INTO comments (org_id, id, post_id, author_id, body) VALUES ($1, $2, $3, $4, 'Hi')",
        [
            (org_id, resources[caller]["comment_id"], resources[caller]["post_id"], author)
            for caller, author in authors.items()
        ],
    )
    await db.executemany(
        "INSERT INTO items (org_id, id, name, created_by_type, created_by) VALUES ($1, $2, 'Matrix', $3, $4)",
        [
            (org_id, resources[caller]["item_id"], kind, creator)
            for caller, (kind, creator) in creators.items()
        ],
    )
    return resources


def org_scoped_routes(app: Litestar) -> set[tuple[str, str]]:
    """(method, path) of every route of the app under /orgs/{org_id}."""
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        if isinstance(route, HTTPRoute) and route.path.startswith("/orgs/{org_id"):
            found |= {(str(m), route.path) for m in route.route_handler_map if m not in {"HEAD", "OPTIONS"}}
    return found


def guard_requirements(app: Litestar) -> dict[tuple[str, str], tuple[Permission, bool]]:
    """What each org-scoped route's ``opt=requires(...)`` asks: (permission, users_only).

    Read from the routes the app serves, so the expected table in the test is checked against
    what the app really enforces, not against a copy of it.
    """
    found: dict[tuple[str, str], tuple[Permission, bool]] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith("/orgs/{org_id"):
            continue
        for method, (handler, _) in route.route_handler_map.items():
            if method in {"HEAD", "OPTIONS"}:
                continue
            access = handler.opt.get(ORG_ACCESS)
            assert isinstance(access, OrgAccess), f"{method} {route.path}: no opt=requires(...)"
            assert not handler.resolve_guards(), f"{method} {route.path}: org access is checked by opt"
            found[(str(method), route.path)] = (access.permission, access.users_only)
    return found


def is_org_not_found(response: httpx.Response) -> bool:
    """The guard's answer for an org the caller cannot see (not a missing sub-object)."""
    return response.status_code == 404 and response.json().get("detail") == NO_SUCH_ORG


async def api_org(client: Client, owner: User, name: str = "Audited") -> str:
    """An org created through the API (so org.created is written); returns its id."""
    response = await client.post("/orgs", json={"name": name, "slug": unique("au-")}, headers=owner.headers)
    return expect_data(response, 201)["id"]


async def audit_events(client: Client, org_id: str, reader: User, query: str = "") -> list[dict[str, Any]]:
    """The org's audit events as `reader` sees them (newest first), first page of 100."""
    sep = "&" if query else ""
    response = await client.get(f"/orgs/{org_id}/audit?limit=100{sep}{query}", headers=reader.headers)
    return expect_data(response)
