"""The data the fuzzer works on: a signed-in user who owns an org with some of everything, an
API key of that org, and the ids the path-parameter hook substitutes for random ones.

Built through the API of the fuzzed app itself (a synchronous in-process ASGI client), except
the platform-admin grant, which has no API (it is an operator's CLI command).
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast

import asyncpg
import requests
from litestar import Litestar
from schemathesis.python import asgi

from tests.factories import DEFAULT_PASSWORD

Session = requests.Session


def in_process(app: Litestar) -> asgi.ASGIClient:
    """schemathesis' synchronous ASGI client (requests API) on `app`, on schemathesis' own loop."""
    return asgi.get_client(cast(Any, app))  # its ASGIApp type is narrower than Litestar's signature


def is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def unique(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(5)}"


def expect(response: requests.Response, status: int) -> Any:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url}: {response.text}"
    )
    return response.json()["data"] if response.content else None


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Account:
    id: str
    email: str
    access_token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


def register(http: Session) -> Account:
    name = unique("fz")
    body = {"email": f"{name}@example.com", "username": name, "password": DEFAULT_PASSWORD}
    created = expect(http.post("/auth/register", json=body), 201)
    return Account(id=created["id"], email=body["email"], access_token=login(http, body["email"]))


def login(http: Session, email: str) -> str:
    tokens = expect(http.post("/auth/login", json={"login": email, "password": DEFAULT_PASSWORD}), 200)
    return tokens["access_token"]


def create_org(http: Session, owner: Account) -> str:
    body = {"name": "Fuzz Org", "slug": unique("fuzz-")}
    return expect(http.post("/orgs", json=body, headers=owner.headers), 201)["id"]


@dataclass
class FuzzWorld:
    """Who the fuzzer is and which ids exist. `ids` maps a path parameter's name to the real
    values the hook offers for it; `known` holds every id that exists, so that a response to
    any other id can be required to be a 404."""

    user: Account
    org_id: str
    api_key: str
    api_key_id: str
    ids: dict[str, list[str]]
    known: set[str] = field(default_factory=lambda: set[str]())

    @property
    def key_headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}


def build_world(http: Session, database_url: str) -> FuzzWorld:
    user = register(http)
    spare_session = login(http, user.email)  # a second session: the one DELETE /auth/sessions may end
    member = register(http)
    org_id = create_org(http, user)
    h = user.headers
    _grant_platform_admin(database_url, user.id, org_id, member.id)
    key = expect(
        http.post(f"/orgs/{org_id}/api-keys", json={"name": "fuzz", "role": "admin"}, headers=h), 201
    )
    # A second key: the only one DELETE /orgs/{org_id}/api-keys/{key_id} is offered, so the key
    # the API-key run authenticates with stays valid.
    spare_key = expect(
        http.post(f"/orgs/{org_id}/api-keys", json={"name": "spare", "role": "viewer"}, headers=h), 201
    )
    items = [
        expect(
            http.post(
                f"/orgs/{org_id}/items",
                json={"name": f"Widget {n}", "price": 100 * n, "currency": "EUR"},
                headers=h,
            ),
            201,
        )["id"]
        for n in range(1, 4)
    ]
    posts = [
        expect(
            http.post(f"/orgs/{org_id}/posts", json={"title": f"Post {n}", "published": n == 1}, headers=h),
            201,
        )["id"]
        for n in range(1, 3)
    ]
    comments = [
        expect(http.post(f"/orgs/{org_id}/posts/{posts[0]}/comments", json={"body": "hi"}, headers=h), 201)[
            "id"
        ]
        for _ in range(2)
    ]
    invitation = expect(
        http.post(f"/orgs/{org_id}/invitations", json={"email": f"{unique('inv')}@example.com"}, headers=h),
        201,
    )["id"]
    endpoint = expect(
        http.post(
            f"/orgs/{org_id}/webhook-endpoints",
            json={"url": "https://hooks.example.com/fuzz", "event_types": ["*"]},
            headers=h,
        ),
        201,
    )["id"]
    sessions = expect(http.get("/auth/sessions", headers=bearer(spare_session)), 200)
    spare_session_id = next(s["id"] for s in sessions if s.get("current"))
    ids = {
        "org_id": [org_id],
        "item_id": items,
        "post_id": posts,
        "comment_id": comments,
        "invitation_id": [invitation],
        "endpoint_id": [endpoint],
        # Never the fuzzing user's own id (a role change could demote the only owner) nor the
        # key the API-key run signs in with.
        "user_id": [member.id],
        "key_id": [spare_key["id"]],
        "session_id": [spare_session_id],
    }
    world = FuzzWorld(user=user, org_id=org_id, api_key=key["key"], api_key_id=key["id"], ids=ids)
    world.known.update(value for values in ids.values() for value in values)
    world.known.update({user.id, key["id"]})
    return world


def _grant_platform_admin(database_url: str, user_id: str, org_id: str, member_id: str) -> None:
    """Make the fuzzing user a platform admin (so /admin/* reaches its handlers) and put the
    spare user in the org as a member; on a thread of its own, away from pytest's event loop."""

    async def grant() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(
                "INSERT INTO platform_admins (user_id, granted_by) VALUES ($1, 'fuzz')", uuid.UUID(user_id)
            )
            await conn.execute(
                "INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, 'member')",
                uuid.UUID(org_id),
                uuid.UUID(member_id),
            )
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, grant()).result()
