"""`GET /users/me/activity`: the caller's profile, recent posts and recent comments in one org,
who may ask for it, its parameters, and that its three reads really run at the same time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from litestar import Litestar

from app.core.db import Connection, Database
from app.posts.service import PostsService
from tests.factories import PUBLIC_FIELDS, Client, expect_data, expect_problem, signed_in_user
from tests.orgs.org_helpers_keys import create_key, key_headers
from tests.orgs.org_helpers_orgs import Pool, org_with
from tests.posts.post_helpers import (
    BASE_TIME,
    add_comment,
    clustered_times,
    create_post,
    ids_of,
    insert_comments,
    insert_posts,
    newest_first,
)

URL = "/users/me/activity"


async def test_activity_shows_the_callers_own_recent_posts_and_comments_in_that_org(
    client: Client, db: Pool
) -> None:
    org_id, owner, [me, other] = await org_with(client, db, "member", "member")
    other_org, other_owner, _ = await org_with(client, db)
    await db.execute(
        "INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, 'member')",
        UUID(other_org),
        UUID(me.id),
    )
    theirs = await create_post(client, org_id, other, title="theirs", published=True)
    mine_published = await create_post(client, org_id, me, title="mine", published=True)
    c1 = await add_comment(client, org_id, theirs["id"], me, "on theirs")
    mine_draft = await create_post(client, org_id, me, title="my draft")
    c2 = await add_comment(client, org_id, mine_published["id"], me, "on mine")
    # noise: other people's posts and comments here, and my own in another org
    await add_comment(client, org_id, mine_published["id"], other, "other's comment")
    await create_post(client, org_id, owner, title="owner's draft")
    elsewhere = await create_post(client, other_org, me, title="elsewhere", published=True)
    await add_comment(client, other_org, elsewhere["id"], me, "elsewhere")
    await add_comment(client, other_org, elsewhere["id"], other_owner, "elsewhere too")

    response = await client.get(URL, params={"org_id": org_id}, headers=me.headers)

    data = expect_data(response)
    assert data.keys() == {"profile", "recent_posts", "recent_comments"}
    assert data["profile"].keys() == PUBLIC_FIELDS
    assert (data["profile"]["id"], data["profile"]["username"]) == (me.id, me.username)
    assert ids_of(data["recent_posts"]) == [mine_draft["id"], mine_published["id"]]
    assert data["recent_posts"][0] == mine_draft
    assert data["recent_posts"][1]["comment_count"] == 2
    assert ids_of(data["recent_comments"]) == [c2["id"], c1["id"]]
    assert data["recent_comments"] == [c2, c1]

    there = expect_data(await client.get(URL, params={"org_id": other_org}, headers=me.headers))
    assert ids_of(there["recent_posts"]) == [elsewhere["id"]]
    assert [c["body"] for c in there["recent_comments"]] == ["elsewhere"]


async def test_activity_of_a_member_with_nothing_yet(client: Client, db: Pool) -> None:
    org_id, owner, [viewer] = await org_with(client, db, "viewer")
    await create_post(client, org_id, owner, published=True)

    data = expect_data(await client.get(URL, params={"org_id": org_id}, headers=viewer.headers))

    assert data["profile"]["id"] == viewer.id
    assert (data["recent_posts"], data["recent_comments"]) == ([], [])


async def test_activity_honours_limit_and_defaults_to_ten(client: Client, db: Pool) -> None:
    org_id, owner, [me] = await org_with(client, db, "member")
    post_times = clustered_times(60, 2)
    post_ids = await insert_posts(db, org_id, me.id, post_times[:30])
    post_ids += await insert_posts(db, org_id, me.id, post_times[30:], published=False)
    target = await create_post(client, org_id, owner, published=True)
    comment_times = [BASE_TIME + timedelta(minutes=n // 3) for n in range(55)]
    comment_ids = await insert_comments(db, org_id, target["id"], me.id, comment_times)
    expected_posts = newest_first(post_ids, post_times)
    expected_comments = newest_first(comment_ids, comment_times)

    async def activity(**params: Any) -> dict[str, Any]:
        return expect_data(await client.get(URL, params={"org_id": org_id, **params}, headers=me.headers))

    default = await activity()
    assert ids_of(default["recent_posts"]) == expected_posts[:10]
    assert ids_of(default["recent_comments"]) == expected_comments[:10]
    for limit in (1, 3, 50):
        data = await activity(limit=limit)
        assert ids_of(data["recent_posts"]) == expected_posts[:limit]
        assert ids_of(data["recent_comments"]) == expected_comments[:limit]


@pytest.mark.parametrize(
    ("params", "path"),
    [
        pytest.param({"limit": 0}, "limit", id="limit-0"),
        pytest.param({"limit": 51}, "limit", id="limit-51"),
        pytest.param({"limit": "x"}, "limit", id="limit-text"),
        pytest.param({"org_id": "not-a-uuid"}, "org_id", id="org-not-uuid"),
    ],
)
async def test_activity_refuses_bad_parameters(
    client: Client, db: Pool, params: dict[str, Any], path: str
) -> None:
    org_id, owner, _ = await org_with(client, db)
    response = await client.get(URL, params={"org_id": org_id, **params}, headers=owner.headers)

    problem = expect_problem(response, 422, "VALIDATION_ERROR", path=path)
    assert [error["location"] for error in problem["errors"]] == ["query"]


async def test_activity_without_org_id_is_422(client: Client, db: Pool) -> None:
    _, owner, _ = await org_with(client, db)

    response = await client.get(URL, params={"limit": 5}, headers=owner.headers)

    expect_problem(response, 422, "VALIDATION_ERROR")


async def test_activity_without_org_id_names_the_missing_parameter(client: Client, db: Pool) -> None:
    _, owner, _ = await org_with(client, db)

    response = await client.get(URL, headers=owner.headers)

    problem = expect_problem(response, 422, "VALIDATION_ERROR")
    assert [(error["path"], error["location"]) for error in problem["errors"]] == [("org_id", "query")]


async def test_activity_is_404_outside_the_org(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    await create_post(client, org_id, owner, published=True)
    stranger = await signed_in_user(client)

    outside = await client.get(URL, params={"org_id": org_id}, headers=stranger.headers)
    unknown = await client.get(
        URL, params={"org_id": "00000000-0000-0000-0000-0000000000aa"}, headers=owner.headers
    )

    expect_problem(outside, 404, "NOT_FOUND")
    expect_problem(unknown, 404, "NOT_FOUND")
    assert outside.json()["detail"] == unknown.json()["detail"]


async def test_activity_is_404_after_leaving_or_for_a_deleted_org(client: Client, db: Pool) -> None:
    org_id, owner, [member] = await org_with(client, db, "member")
    await create_post(client, org_id, member, published=True)
    expect_data(await client.get(URL, params={"org_id": org_id}, headers=member.headers))

    await db.execute(
        "DELETE FROM org_members WHERE org_id = $1 AND user_id = $2", UUID(org_id), UUID(member.id)
    )
    expect_problem(await client.get(URL, params={"org_id": org_id}, headers=member.headers), 404, "NOT_FOUND")

    await db.execute("UPDATE orgs SET deleted_at = now() WHERE id = $1", UUID(org_id))
    expect_problem(await client.get(URL, params={"org_id": org_id}, headers=owner.headers), 404, "NOT_FOUND")


async def test_activity_needs_a_users_token(client: Client, db: Pool) -> None:
    org_id, owner, _ = await org_with(client, db)
    key = (await create_key(client, org_id, owner, "admin"))["key"]
    params = {"org_id": org_id}

    expect_problem(await client.get(URL, params=params), 401, "AUTHENTICATION_REQUIRED")
    expect_problem(
        await client.get(URL, params=params, headers=key_headers(key, "x-api-key")),
        401,
        "AUTHENTICATION_REQUIRED",
    )
    by_bearer = await client.get(URL, params=params, headers=key_headers(key, "bearer"))
    expect_problem(by_bearer, 401, "INVALID_TOKEN")
    assert by_bearer.headers["www-authenticate"] == "Bearer"
    garbage = await client.get(URL, params=params, headers={"Authorization": "Bearer not-a-token"})
    expect_problem(garbage, 401, "INVALID_TOKEN")


# ---- the three reads run at once -------------------------------------------------------------


class _OverlapProbe:
    """Stands in for the posts service's `Database`: every connection still comes from the real
    pool, and the probe records how many of them are held at the same time.

    Each holder waits (up to `patience` seconds) after acquiring until `expected` connections
    are held together, so the overlap does not depend on how fast one query finishes: reads
    that run one after the other never get there, and the maximum stays at 1."""

    def __init__(self, real: Database, expected: int, patience: float) -> None:
        self._real = real
        self._expected = expected
        self._patience = patience
        self.open = 0
        self.max_open = 0
        self.acquired = 0
        self.connections: set[int] = set()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        async with self._real.connection() as conn:
            self.open += 1
            self.acquired += 1
            self.max_open = max(self.max_open, self.open)
            self.connections.add(id(conn))
            try:
                deadline = time.monotonic() + self._patience
                while self.open < self._expected and self.max_open < self._expected:
                    if time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.002)
                yield conn
            finally:
                self.open -= 1


async def test_activity_reads_run_concurrently_on_three_pooled_connections(
    client: Client, db: Pool, app: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    org_id, _, [me] = await org_with(client, db, "member")
    post = await create_post(client, org_id, me, published=True)
    comment = await add_comment(client, org_id, post["id"], me)
    service: PostsService = app.state["posts"]
    real: Database = service._db  # pyright: ignore[reportPrivateUsage]
    probe = _OverlapProbe(real, expected=3, patience=1.0)
    monkeypatch.setattr(service, "_db", probe)

    started = time.monotonic()
    data = expect_data(await client.get(URL, params={"org_id": org_id}, headers=me.headers))
    elapsed = time.monotonic() - started

    assert probe.acquired == 3
    assert probe.max_open == 3
    assert len(probe.connections) == 3
    assert probe.open == 0
    assert elapsed < 1.0, "a read waited for the others: they did not all run at once"
    assert ids_of(data["recent_posts"]) == [post["id"]]
    assert ids_of(data["recent_comments"]) == [comment["id"]]
