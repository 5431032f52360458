"""Every caller kind against every org-scoped route: the status follows the permission table.

The table below names, for each route under /orgs/{org_id}, the permission it needs and whether
API keys are refused outright. It is checked three ways against the app: it covers exactly the
app's org-scoped routes (a new, unclassified route fails), it equals ORG_SCOPED of the
authorization-matrix test, and it equals what each route's `requires(...)` guard really checks.
Expectations come from `role_allows` plus the users-only rule.

Read-only routes share one org per module; every other call gets a fresh org (rows written
directly, so the matrix stays fast) because it may delete or change what it touches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import asyncpg
import pytest
from litestar import Litestar

from app.orgs.permissions import Permission, Role, role_allows
from tests.factories import (
    Client,
    User,
    expect_data,
    expect_no_content,
    expect_problem,
    signed_in_user,
    unique,
)
from tests.orgs.org_helpers_matrix import (
    CALLERS,
    MEMBER_NAMES,
    OrgCase,
    guard_requirements,
    is_org_not_found,
    org_scoped_routes,
    seed_org,
)
from tests.test_authorization_matrix import ORG_SCOPED


class Route(NamedTuple):
    method: str
    path: str
    permission: Permission
    users_only: bool
    body: Callable[[OrgCase], dict[str, Any] | None]
    read_only: bool = False

    @property
    def id(self) -> str:
        return f"{self.method} {self.path.removeprefix('/orgs/{org_id:uuid}') or '/'}"


def _none(_: OrgCase) -> None:
    return None


ROUTES = [
    Route("GET", "/orgs/{org_id:uuid}", Permission.ORG_READ, False, _none, read_only=True),
    Route("PATCH", "/orgs/{org_id:uuid}", Permission.ORG_UPDATE, False, lambda _: {"name": "Renamed"}),
    Route("DELETE", "/orgs/{org_id:uuid}", Permission.ORG_DELETE, True, _none),
    Route(
        "POST",
        "/orgs/{org_id:uuid}/transfer-ownership",
        Permission.ORG_TRANSFER,
        True,
        lambda case: {"user_id": case.target_user_id},
    ),
    Route("POST", "/orgs/{org_id:uuid}/leave", Permission.ORG_READ, True, _none),
    Route("GET", "/orgs/{org_id:uuid}/members", Permission.MEMBERS_READ, False, _none, read_only=True),
    Route(
        "PATCH",
        "/orgs/{org_id:uuid}/members/{user_id:uuid}",
        Permission.MEMBERS_MANAGE,
        False,
        lambda _: {"role": "viewer"},
    ),
    Route("DELETE", "/orgs/{org_id:uuid}/members/{user_id:uuid}", Permission.MEMBERS_MANAGE, False, _none),
    Route(
        "POST",
        "/orgs/{org_id:uuid}/invitations",
        Permission.INVITATIONS_MANAGE,
        True,
        lambda _: {"email": f"{unique('inv')}@example.com", "role": "member"},
    ),
    Route(
        "GET", "/orgs/{org_id:uuid}/invitations", Permission.INVITATIONS_MANAGE, True, _none, read_only=True
    ),
    Route(
        "DELETE",
        "/orgs/{org_id:uuid}/invitations/{invitation_id:uuid}",
        Permission.INVITATIONS_MANAGE,
        True,
        _none,
    ),
    Route(
        "POST",
        "/orgs/{org_id:uuid}/api-keys",
        Permission.API_KEYS_MANAGE,
        True,
        lambda _: {"name": "matrix", "role": "viewer"},
    ),
    Route("GET", "/orgs/{org_id:uuid}/api-keys", Permission.API_KEYS_MANAGE, True, _none, read_only=True),
    Route("DELETE", "/orgs/{org_id:uuid}/api-keys/{key_id:uuid}", Permission.API_KEYS_MANAGE, True, _none),
    Route("GET", "/orgs/{org_id:uuid}/audit", Permission.AUDIT_READ, False, _none, read_only=True),
    Route(
        "POST",
        "/orgs/{org_id:uuid}/webhook-endpoints",
        Permission.WEBHOOKS_MANAGE,
        False,
        lambda _: {"url": "https://example.com/hooks/matrix", "event_types": ["item.created"]},
    ),
    Route(
        "GET",
        "/orgs/{org_id:uuid}/webhook-endpoints",
        Permission.WEBHOOKS_MANAGE,
        False,
        _none,
        read_only=True,
    ),
    Route(
        "GET",
        "/orgs/{org_id:uuid}/webhook-endpoints/{endpoint_id:uuid}",
        Permission.WEBHOOKS_MANAGE,
        False,
        _none,
        read_only=True,
    ),
    Route(
        "PATCH",
        "/orgs/{org_id:uuid}/webhook-endpoints/{endpoint_id:uuid}",
        Permission.WEBHOOKS_MANAGE,
        False,
        lambda _: {"description": "Edited", "enabled": False},
    ),
    Route(
        "DELETE",
        "/orgs/{org_id:uuid}/webhook-endpoints/{endpoint_id:uuid}",
        Permission.WEBHOOKS_MANAGE,
        False,
        _none,
    ),
    Route(
        "POST",
        "/orgs/{org_id:uuid}/webhook-endpoints/{endpoint_id:uuid}/rotate-secret",
        Permission.WEBHOOKS_MANAGE,
        False,
        _none,
    ),
    Route(
        "GET",
        "/orgs/{org_id:uuid}/webhook-endpoints/{endpoint_id:uuid}/deliveries",
        Permission.WEBHOOKS_MANAGE,
        False,
        _none,
        read_only=True,
    ),
    Route("POST", "/orgs/{org_id:uuid}/items", Permission.RESOURCES_CREATE, False, lambda _: {"name": "New"}),
    Route(
        "POST",
        "/orgs/{org_id:uuid}/items:batch",
        Permission.RESOURCES_CREATE,
        False,
        lambda _: {"items": [{"name": "One"}, {"name": "Two", "price": 5, "currency": "EUR"}]},
    ),
    Route("GET", "/orgs/{org_id:uuid}/items", Permission.RESOURCES_READ, False, _none, read_only=True),
    Route(
        "GET",
        "/orgs/{org_id:uuid}/items/{item_id:uuid}",
        Permission.RESOURCES_READ,
        False,
        _none,
        read_only=True,
    ),
    Route(
        "PATCH",
        "/orgs/{org_id:uuid}/items/{item_id:uuid}",
        Permission.RESOURCES_EDIT_OWN,
        False,
        lambda _: {"name": "Renamed"},
    ),
    Route("DELETE", "/orgs/{org_id:uuid}/items/{item_id:uuid}", Permission.RESOURCES_EDIT_OWN, False, _none),
    Route(
        "POST",
        "/orgs/{org_id:uuid}/posts",
        Permission.RESOURCES_CREATE,
        True,
        lambda _: {"title": "Hello", "published": True},
    ),
    Route("GET", "/orgs/{org_id:uuid}/posts", Permission.RESOURCES_READ, False, _none, read_only=True),
    Route(
        "GET",
        "/orgs/{org_id:uuid}/posts/{post_id:uuid}",
        Permission.RESOURCES_READ,
        False,
        _none,
        read_only=True,
    ),
    Route(
        "PATCH",
        "/orgs/{org_id:uuid}/posts/{post_id:uuid}",
        Permission.RESOURCES_EDIT_OWN,
        True,
        lambda _: {"title": "Edited"},
    ),
    Route("DELETE", "/orgs/{org_id:uuid}/posts/{post_id:uuid}", Permission.RESOURCES_EDIT_OWN, True, _none),
    Route(
        "POST",
        "/orgs/{org_id:uuid}/posts/{post_id:uuid}/comments",
        Permission.RESOURCES_CREATE,
        True,
        lambda _: {"body": "Agreed"},
    ),
    Route(
        "GET",
        "/orgs/{org_id:uuid}/posts/{post_id:uuid}/comments",
        Permission.RESOURCES_READ,
        False,
        _none,
        read_only=True,
    ),
    Route(
        "PATCH",
        "/orgs/{org_id:uuid}/posts/{post_id:uuid}/comments/{comment_id:uuid}",
        Permission.RESOURCES_EDIT_OWN,
        True,
        lambda _: {"body": "Edited"},
    ),
    Route(
        "DELETE",
        "/orgs/{org_id:uuid}/posts/{post_id:uuid}/comments/{comment_id:uuid}",
        Permission.RESOURCES_EDIT_OWN,
        True,
        _none,
    ),
]
ROUTE_IDS = [route.id for route in ROUTES]


def expected_allowed(route: Route, caller: str) -> bool:
    kind, role = caller.split(":")
    is_key = kind == "key"
    if route.users_only and is_key:
        return False
    return role_allows(Role(role), route.permission, is_api_key=is_key)


# ---- the table is the app's route list ----------------------------------------------------------


def test_the_table_covers_exactly_the_org_scoped_routes(app: Litestar) -> None:
    table = [(route.method, route.path) for route in ROUTES]
    assert len(table) == len(set(table)), "a route is listed twice"
    assert set(table) == org_scoped_routes(app), "classify new /orgs/{org_id} routes in ROUTES"
    assert set(table) == ORG_SCOPED


def test_the_table_matches_what_each_guard_checks(app: Litestar) -> None:
    guards = guard_requirements(app)
    table = {(route.method, route.path): (route.permission, route.users_only) for route in ROUTES}
    assert guards == table


def test_the_matrix_denies_and_permits_something_for_every_caller() -> None:
    """Guards against a table in which every expectation collapsed to one answer."""
    for caller in CALLERS[1:]:
        answers = {expected_allowed(route, caller) for route in ROUTES}
        assert answers == {True, False}, caller
    assert all(expected_allowed(route, "user:owner") for route in ROUTES)


# ---- the matrix ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def people(client: Client) -> dict[str, User]:
    return {name: await signed_in_user(client) for name in MEMBER_NAMES}


@pytest.fixture(scope="module")
async def shared_org(db: asyncpg.Pool[Any], people: dict[str, User]) -> OrgCase:
    """For read-only routes: nothing a permitted or denied GET does changes it."""
    return await seed_org(db, people)


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
async def test_role_matrix(
    client: Client,
    db: asyncpg.Pool[Any],
    people: dict[str, User],
    shared_org: OrgCase,
    route: Route,
    caller: str,
) -> None:
    case = shared_org if route.read_only else await seed_org(db, people)

    response = await client.request(
        route.method, case.path(route.path, caller), headers=case.credentials[caller], json=route.body(case)
    )

    where = f"{caller} {route.method} {route.path}"
    if expected_allowed(route, caller):
        assert response.status_code not in (401, 403), f"{where}: {response.text}"
        assert not is_org_not_found(response), f"{where}: {response.text}"
        # Realistic bodies on fresh objects: every permitted call succeeds.
        assert 200 <= response.status_code < 300, f"{where}: {response.text}"
    else:
        expect_problem(response, 403, "PERMISSION_DENIED")


async def test_a_denied_destructive_call_changes_nothing(
    client: Client, db: asyncpg.Pool[Any], people: dict[str, User]
) -> None:
    case = await seed_org(db, people)

    for caller in ("user:member", "user:viewer", "key:member", "key:viewer"):
        expect_problem(
            await client.delete(
                f"/orgs/{case.org_id}/members/{case.target_user_id}", headers=case.credentials[caller]
            ),
            403,
            "PERMISSION_DENIED",
        )
    expect_problem(
        await client.delete(f"/orgs/{case.org_id}", headers=case.credentials["user:admin"]),
        403,
        "PERMISSION_DENIED",
    )

    assert await db.fetchval("SELECT count(*) FROM org_members WHERE org_id = $1", case.org_id) == len(
        MEMBER_NAMES
    )
    assert await db.fetchval("SELECT deleted_at IS NULL FROM orgs WHERE id = $1", case.org_id)


# ---- object rules -------------------------------------------------------------------------------
# The matrix has every caller act on its own resources; here callers act on someone else's, where
# the services' object rules (docs/PERMISSIONS.md, Object-level rules) decide, not the role alone.

ITEM = "/orgs/{org_id:uuid}/items/{item_id:uuid}"
POST = "/orgs/{org_id:uuid}/posts/{post_id:uuid}"
COMMENT = "/orgs/{org_id:uuid}/posts/{post_id:uuid}/comments/{comment_id:uuid}"
ROUTE_BY_KEY = {(route.method, route.path): route for route in ROUTES}


class ObjectRule(NamedTuple):
    caller: str
    method: str
    path: str
    owner: str  # whose item, post or comment (and its post) the caller acts on
    status: int

    @property
    def id(self) -> str:
        kind = {ITEM: "item", POST: "post", COMMENT: "comment"}[self.path]
        return f"{self.caller} {self.method} {self.owner}'s {kind} -> {self.status}"


OBJECT_RULES = [
    # Items: members (users or keys) change only what they created; edit_any changes anything.
    ObjectRule("user:member", "PATCH", ITEM, "user:target", 403),
    ObjectRule("user:member", "DELETE", ITEM, "user:target", 403),
    ObjectRule("user:member", "PATCH", ITEM, "key:member", 403),
    ObjectRule("key:member", "PATCH", ITEM, "user:member", 403),
    ObjectRule("user:admin", "PATCH", ITEM, "user:target", 200),
    ObjectRule("user:owner", "DELETE", ITEM, "user:target", 204),
    ObjectRule("key:admin", "PATCH", ITEM, "user:member", 200),
    # Posts: the author or an admin.
    ObjectRule("user:member", "PATCH", POST, "user:target", 403),
    ObjectRule("user:member", "DELETE", POST, "user:target", 403),
    ObjectRule("user:admin", "PATCH", POST, "user:target", 200),
    ObjectRule("user:admin", "DELETE", POST, "user:target", 204),
    # Comments: edited by the author only (not even an owner), deleted by the author or an admin.
    ObjectRule("user:admin", "PATCH", COMMENT, "user:target", 403),
    ObjectRule("user:owner", "PATCH", COMMENT, "user:target", 403),
    ObjectRule("user:admin", "DELETE", COMMENT, "user:target", 204),
    ObjectRule("user:member", "DELETE", COMMENT, "user:target", 403),
]


async def _snapshot(db: asyncpg.Pool[Any], case: OrgCase, rule: ObjectRule) -> Any:
    """What a change to the rule's object would show: the item's name and whether it is deleted,
    the post's title, the comment's body (None once deleted)."""
    own = case.resources[rule.owner]
    if rule.path == ITEM:
        return tuple(
            await db.fetchrow(
                "SELECT name, deleted_at IS NOT NULL FROM items WHERE org_id = $1 AND id = $2",
                case.org_id,
                own["item_id"],
            )
            or ()
        )
    if rule.path == POST:
        return await db.fetchval(
            "SELECT title FROM posts WHERE org_id = $1 AND id = $2", case.org_id, own["post_id"]
        )
    return await db.fetchval(
        "SELECT body FROM comments WHERE org_id = $1 AND id = $2", case.org_id, own["comment_id"]
    )


@pytest.mark.parametrize("rule", OBJECT_RULES, ids=[rule.id for rule in OBJECT_RULES])
async def test_object_rules_on_someone_elses_resources(
    client: Client, db: asyncpg.Pool[Any], people: dict[str, User], rule: ObjectRule
) -> None:
    case = await seed_org(db, people)
    route = ROUTE_BY_KEY[(rule.method, rule.path)]
    assert expected_allowed(route, rule.caller), "the role allows the route; the object decides"
    before = await _snapshot(db, case, rule)

    response = await client.request(
        rule.method,
        case.path(rule.path, rule.caller, owner=rule.owner),
        headers=case.credentials[rule.caller],
        json=route.body(case),
    )

    if rule.status == 403:
        expect_problem(response, 403, "PERMISSION_DENIED")
        assert await _snapshot(db, case, rule) == before
    elif rule.status == 204:
        expect_no_content(response)
        assert await _snapshot(db, case, rule) != before
    else:
        expect_data(response, rule.status)
        assert await _snapshot(db, case, rule) != before


async def test_a_draft_exists_for_its_author_and_admins_only(
    client: Client, db: asyncpg.Pool[Any], people: dict[str, User]
) -> None:
    case = await seed_org(db, people)
    draft = case.resources["user:target"]["post_id"]
    await db.execute(
        "UPDATE posts SET published = false, published_at = NULL WHERE org_id = $1 AND id = $2",
        case.org_id,
        draft,
    )
    url = f"/orgs/{case.org_id}/posts/{draft}"

    for caller in (*CALLERS, "user:target"):
        response = await client.get(url, headers=case.credentials[caller])
        if caller in ("user:target", "user:owner", "user:admin", "key:admin"):
            assert expect_data(response)["id"] == draft, caller
        else:
            assert expect_problem(response, 404, "NOT_FOUND")["detail"] == "No such post.", caller
    # To a member it does not exist, so changing it is 404, not 403.
    response = await client.patch(url, json={"title": "x"}, headers=case.credentials["user:member"])
    expect_problem(response, 404, "NOT_FOUND")
    assert await db.fetchval("SELECT title FROM posts WHERE id = $1", draft) == "Matrix post"


# ---- another org, a deleted org -----------------------------------------------------------------


@pytest.fixture(scope="module")
async def two_orgs(client: Client, db: asyncpg.Pool[Any], people: dict[str, User]) -> tuple[OrgCase, OrgCase]:
    """Org A of `people`; org B of other users, in which A's owner is not a member.

    Every call against B must be refused before it acts, so B is shared by the module.
    """
    mine = await seed_org(db, people)
    strangers = {name: await signed_in_user(client) for name in MEMBER_NAMES}
    theirs = await seed_org(db, strangers)
    return mine, theirs


@pytest.mark.parametrize("caller", ["user:owner", "key:admin"])
@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
async def test_another_orgs_routes_answer_404(
    client: Client, db: asyncpg.Pool[Any], two_orgs: tuple[OrgCase, OrgCase], route: Route, caller: str
) -> None:
    mine, theirs = two_orgs

    response = await client.request(
        route.method,
        theirs.path(route.path, caller),
        headers=mine.credentials[caller],
        json=route.body(theirs),
    )

    expect_problem(response, 404, "NOT_FOUND")
    assert is_org_not_found(response), response.text
    assert await db.fetchval("SELECT deleted_at IS NULL FROM orgs WHERE id = $1", theirs.org_id)
    assert await db.fetchval("SELECT count(*) FROM org_members WHERE org_id = $1", theirs.org_id) == len(
        MEMBER_NAMES
    )


@pytest.fixture(scope="module")
async def deleted_org(client: Client, db: asyncpg.Pool[Any], people: dict[str, User]) -> OrgCase:
    case = await seed_org(db, people)
    response = await client.delete(f"/orgs/{case.org_id}", headers=case.credentials["user:owner"])
    assert response.status_code == 204, response.text
    return case


@pytest.mark.parametrize("caller", ["user:owner", "user:admin", "user:viewer"])
@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
async def test_a_deleted_orgs_routes_answer_404(
    client: Client, deleted_org: OrgCase, route: Route, caller: str
) -> None:
    response = await client.request(
        route.method,
        deleted_org.path(route.path, caller),
        headers=deleted_org.credentials[caller],
        json=route.body(deleted_org),
    )

    expect_problem(response, 404, "NOT_FOUND")
    assert is_org_not_found(response), response.text


@pytest.mark.parametrize("caller", ["key:admin", "key:viewer"])
async def test_a_deleted_orgs_keys_stop_working(client: Client, deleted_org: OrgCase, caller: str) -> None:
    response = await client.get(f"/orgs/{deleted_org.org_id}", headers=deleted_org.credentials[caller])

    assert response.status_code in (401, 404), response.text
