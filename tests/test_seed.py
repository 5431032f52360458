"""`just seed` (app.seed / app.seed_sql) on a database of its own: what it creates is consistent,
realistic enough, repeatable, and the logins it writes with --json work against the app."""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pycountry
import pytest
from litestar.testing import AsyncTestClient

from app.core.config import Settings
from app.core.security import PasswordHashing
from app.main import create_app
from app.migrate import apply_all
from app.seed import ProgressBar, main, run_seed
from app.seed_sql import (
    SEED_PASSWORD,
    TAGS,
    SeedOptions,
    SeedResult,
)
from tests.sql.conftest import MakeDatabase, make_database  # noqa: F401 - the fixture

OPTIONS = SeedOptions(
    orgs=4,
    items_per_org=150,
    big_org_items=400,
    members_per_org=5,
    posts_per_org=12,
    comments_per_post=3,
    api_keys_per_org=2,
    users=3,
)
RUNS = 2


@dataclass
class Seeded:
    url: str
    results: list[SeedResult]
    documents: list[dict[str, Any]]
    settings: Settings


@pytest.fixture(scope="module")
async def seeded(
    make_database: MakeDatabase,  # noqa: F811 - the imported fixture
    make_settings: Callable[..., Settings],
    tmp_path_factory: pytest.TempPathFactory,
) -> Seeded:
    url = make_database("seed")
    apply_all(url)
    settings = make_settings(database_url=url)
    # Cheap argon2 (the test parameters): the seeder takes any hash of the seed password.
    password_hash = await PasswordHashing(settings).hash(SEED_PASSWORD)
    results: list[SeedResult] = []
    documents: list[dict[str, Any]] = []
    for run in range(RUNS):
        path = tmp_path_factory.mktemp("seed") / f"run{run}.json"
        results.append(
            await run_seed(
                url,
                OPTIONS,
                json_path=path,
                json_orgs=2,
                json_ids=4,
                progress=False,
                password_hash=password_hash,
            )
        )
        documents.append(json.loads(path.read_text()))
    return Seeded(url=url, results=results, documents=documents, settings=settings)


@pytest.fixture(scope="module")
async def conn(seeded: Seeded) -> AsyncIterator[asyncpg.Connection[Any]]:
    connection: asyncpg.Connection[Any] = await asyncpg.connect(seeded.url)
    try:
        yield connection
    finally:
        await connection.close()


async def test_counts(seeded: Seeded, conn: asyncpg.Connection[Any]) -> None:
    orgs, members, keys = OPTIONS.orgs, OPTIONS.members_per_org, OPTIONS.api_keys_per_org
    items = OPTIONS.big_org_items + (orgs - 1) * OPTIONS.items_per_org
    posts = orgs * OPTIONS.posts_per_org
    expected = {
        "users": RUNS * (orgs * members + OPTIONS.users),
        "orgs": RUNS * orgs,
        "org_members": RUNS * orgs * members,
        "api_keys": RUNS * orgs * keys,
        "items": RUNS * items,
        "posts": RUNS * posts,
    }
    for table, count in expected.items():
        assert await conn.fetchval(f"SELECT count(*) FROM {table}") == count, table
    for result in seeded.results:
        assert {table: result.counts[table] for table in expected} == {
            table: count // RUNS for table, count in expected.items()
        }
    comments = await conn.fetchval("SELECT count(*) FROM comments")
    assert comments == sum(result.counts["comments"] for result in seeded.results)
    # 0 to 2 x 3 comments per published post (~85% of them): the mean is near 3 x 0.85.
    assert 0.4 * 3 * posts * RUNS < comments < 1.6 * 3 * posts * RUNS
    published = await conn.fetchval("SELECT avg(published::int) FROM posts")
    assert 0.6 < published < 0.98


async def test_runs_do_not_collide(seeded: Seeded, conn: asyncpg.Connection[Any]) -> None:
    first, second = seeded.results
    assert first.run != second.run
    assert not {org.slug for org in first.orgs} & {org.slug for org in second.orgs}
    for org in first.orgs + second.orgs:
        run = first.run if org in first.orgs else second.run
        assert run in org.slug
        assert run in org.owner_email
    assert await conn.fetchval("SELECT count(DISTINCT lower(email)) = count(*) FROM users")
    assert await conn.fetchval("SELECT count(DISTINCT lower(username)) = count(*) FROM users")


async def test_accounts_and_roles(conn: asyncpg.Connection[Any]) -> None:
    users = await conn.fetch("SELECT email, password_hash, email_verified_at, is_active FROM users")
    assert all(row["email"].endswith("@seed.example") for row in users)
    assert all(row["email_verified_at"] is not None and row["is_active"] for row in users)
    assert len({row["password_hash"] for row in users}) == 1, "one shared hash of the seed password"
    roles = await conn.fetch(
        "SELECT org_id, count(*) FILTER (WHERE role = 'owner') AS owners,"
        " count(*) FILTER (WHERE role = 'admin') AS admins, count(*) AS members"
        " FROM org_members GROUP BY org_id"
    )
    assert len(roles) == RUNS * OPTIONS.orgs
    assert all((r["owners"], r["admins"], r["members"]) == (1, 1, OPTIONS.members_per_org) for r in roles)
    # The creator of each org is its owner; nobody is in two orgs; the extra accounts are in none.
    assert not await conn.fetchval(
        "SELECT count(*) FROM orgs AS o LEFT JOIN org_members AS m"
        " ON m.org_id = o.id AND m.user_id = o.created_by AND m.role = 'owner' WHERE m.user_id IS NULL"
    )
    assert not await conn.fetchval(
        "SELECT count(*) FROM (SELECT user_id FROM org_members GROUP BY user_id HAVING count(*) > 1) AS t"
    )
    loners = await conn.fetchval(
        "SELECT count(*) FROM users AS u WHERE NOT EXISTS (SELECT 1 FROM org_members WHERE user_id = u.id)"
    )
    assert loners == RUNS * OPTIONS.users


async def test_rows_belong_to_their_org(conn: asyncpg.Connection[Any]) -> None:
    """Every author and creator is a member (or an API key) of the row's own org."""
    assert not await conn.fetchval(
        "SELECT count(*) FROM items AS i WHERE NOT CASE i.created_by_type"
        " WHEN 'user' THEN EXISTS"
        " (SELECT 1 FROM org_members WHERE org_id = i.org_id AND user_id = i.created_by)"
        " ELSE EXISTS (SELECT 1 FROM api_keys WHERE org_id = i.org_id AND id = i.created_by) END"
    )
    for table in ("posts", "comments"):
        assert not await conn.fetchval(
            f"SELECT count(*) FROM {table} AS t WHERE NOT EXISTS"
            " (SELECT 1 FROM org_members WHERE org_id = t.org_id AND user_id = t.author_id)"
        ), table
    # Comments are on published posts, after publication.
    assert not await conn.fetchval(
        "SELECT count(*) FROM comments AS c JOIN posts AS p ON p.org_id = c.org_id AND p.id = c.post_id"
        " WHERE NOT p.published OR c.created_at < p.published_at"
    )
    assert await conn.fetchval("SELECT count(*) FILTER (WHERE created_by_type = 'api_key') > 0 FROM items")


async def test_comment_counts_match(conn: asyncpg.Connection[Any]) -> None:
    wrong = await conn.fetchval(
        "SELECT count(*) FROM posts AS p WHERE p.comment_count <>"
        " (SELECT count(*) FROM comments AS c WHERE c.org_id = p.org_id AND c.post_id = p.id)"
    )
    assert wrong == 0
    assert await conn.fetchval("SELECT count(DISTINCT comment_count) > 2 FROM posts")


@pytest.mark.parametrize("table", ["users", "orgs", "items", "posts", "comments"])
async def test_ids_are_v7_of_created_at(conn: asyncpg.Connection[Any], table: str) -> None:
    rows = await conn.fetch(f"SELECT id, created_at FROM {table}")
    assert rows
    for row in rows:
        ident: uuid.UUID = row["id"]
        assert ident.version == 7, ident
        assert ident.int >> 80 == int(row["created_at"].timestamp() * 1000) or (
            # float rounding of .timestamp() at a millisecond boundary
            abs((ident.int >> 80) - row["created_at"].timestamp() * 1000) < 1
        ), (table, ident, row["created_at"])
    # So id order is time order (up to the millisecond).
    ordered = sorted(rows, key=lambda row: row["id"])
    times = [
        row["created_at"].replace(microsecond=row["created_at"].microsecond // 1000 * 1000) for row in ordered
    ]
    assert times == sorted(times)


async def test_items_look_real(conn: asyncpg.Connection[Any]) -> None:
    rows = await conn.fetch(
        "SELECT name, description, price, currency, tags, status, metadata::text AS metadata, version,"
        " created_at, updated_at, deleted_at FROM items"
    )
    now = datetime.now(UTC)
    codes = {currency.alpha_3 for currency in pycountry.currencies}  # pyright: ignore[reportUnknownVariableType, reportUnknownMemberType, reportAttributeAccessIssue]
    statuses: dict[str, int] = {}
    for row in rows:
        assert re.fullmatch(r"[A-Z][a-z-]+ [A-Z][a-z]+ [A-Z][a-z]+( [0-9A-F]{2}-\d{3})?", row["name"]), row[
            "name"
        ]
        assert (row["price"] is None) == (row["currency"] is None)
        if row["currency"] is not None:
            assert row["currency"] in codes
            assert row["price"] > 0
        assert len(row["tags"]) <= 5
        assert len(set(row["tags"])) == len(row["tags"])
        assert set(row["tags"]) <= set(TAGS)
        assert isinstance(json.loads(row["metadata"]), dict)
        assert "sku" in json.loads(row["metadata"])
        assert now - timedelta(days=366) < row["created_at"] <= row["updated_at"] <= now
        assert (row["version"] > 1) == (row["updated_at"] > row["created_at"])
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    total = len(rows)
    assert 0.03 < sum(row["price"] is None for row in rows) / total < 0.2, "about 10% without a price"
    assert statuses["active"] / total > 0.65, statuses
    assert set(statuses) == {"active", "draft", "archived"}
    assert len({row["currency"] for row in rows}) > 5
    assert sum(row["description"] is None for row in rows) < total / 3
    assert 0 < sum(row["deleted_at"] is not None for row in rows) < total / 10


async def test_json_output(seeded: Seeded, conn: asyncpg.Connection[Any]) -> None:
    for result, document in zip(seeded.results, seeded.documents, strict=True):
        assert document["run"] == result.run
        assert document["password"] == SEED_PASSWORD
        assert len(document["orgs"]) == 2
        assert document["counts"] == result.counts
        for org in document["orgs"]:
            org_id = uuid.UUID(org["id"])
            assert org["owner"] == {"email": org["owner"]["email"], "password": SEED_PASSWORD}
            role = await conn.fetchval(
                "SELECT m.role FROM org_members AS m JOIN users AS u ON u.id = m.user_id"
                " WHERE m.org_id = $1 AND u.email = $2",
                org_id,
                org["owner"]["email"],
            )
            assert role == "owner"
            assert len(org["api_keys"]) == OPTIONS.api_keys_per_org
            assert org["api_key"] == org["api_keys"][0]["key"]
            assert org["api_key_role"] == "admin"
            for key in org["api_keys"]:
                # Stored as the app stores keys: the prefix, and the SHA-256 digest of the secret.
                prefix, _, secret = key["key"].removeprefix("sk_").partition("_")
                stored = await conn.fetchrow(
                    "SELECT org_id, secret_hash, role, revoked_at FROM api_keys WHERE prefix = $1", prefix
                )
                assert stored is not None
                assert stored["org_id"] == org_id
                assert stored["role"] == key["role"]
                assert stored["secret_hash"] == hashlib.sha256(secret.encode()).digest()
                assert stored["revoked_at"] is None
            assert len(org["item_ids"]) == 4
            assert len(org["post_ids"]) == 4
            found = await conn.fetchval(
                "SELECT count(*) FROM items"
                " WHERE org_id = $1 AND id = ANY($2::uuid[]) AND deleted_at IS NULL",
                org_id,
                [uuid.UUID(i) for i in org["item_ids"]],
            )
            assert found == 4
    assert seeded.documents[0]["orgs"][0]["items"] == OPTIONS.big_org_items


async def test_json_logins_work_against_the_app(seeded: Seeded) -> None:
    """The API key and the owner's password of the JSON file authenticate against the app."""
    org = seeded.documents[1]["orgs"][1]
    async with AsyncTestClient(create_app(seeded.settings)) as client:
        listed = await client.get(
            f"/orgs/{org['id']}/items", params={"limit": 5}, headers={"X-API-Key": org["api_key"]}
        )
        assert listed.status_code == 200, listed.text
        assert len(listed.json()["data"]) == 5
        item = await client.get(
            f"/orgs/{org['id']}/items/{org['item_ids'][0]}", headers={"X-API-Key": org["api_key"]}
        )
        assert item.status_code == 200, item.text
        login = await client.post(
            "/auth/login", json={"login": org["owner"]["email"], "password": org["owner"]["password"]}
        )
        assert login.status_code == 200, login.text
        token = login.json()["data"]["access_token"]
        posts = await client.get(f"/orgs/{org['id']}/posts", headers={"Authorization": f"Bearer {token}"})
        assert posts.status_code == 200, posts.text
        assert posts.json()["data"]
        wrong = await client.get(
            f"/orgs/{org['id']}/items", headers={"X-API-Key": org["api_key"][:-2] + "xx"}
        )
        assert wrong.status_code == 401


def test_options_are_checked() -> None:
    assert SeedOptions().problems() == []
    assert SeedOptions().total_items == 200_000
    assert SeedOptions(orgs=2, members_per_org=0).problems()
    assert SeedOptions(orgs=0, users=0).problems()
    assert SeedOptions(items_per_org=-1).problems()
    assert SeedOptions(orgs=3, items_per_org=10, big_org_items=100).total_items == 120


def test_help_documents_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for option in (
        "--orgs",
        "--items-per-org",
        "--members-per-org",
        "--posts-per-org",
        "--comments-per-post",
        "--api-keys-per-org",
        "--users",
        "--json",
    ):
        assert option in text


def test_cli_needs_a_database_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert main(["--orgs", "1"]) == 2
    assert "DATABASE_URL" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--members-per-org", "0"])


def test_cli_seeds_and_writes_json(
    seeded: Seeded,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """The command line end to end (small): progress on stderr, a summary, the JSON file."""
    monkeypatch.setenv("DATABASE_URL", seeded.url)
    path = tmp_path / "out" / "seed.json"
    argv = ["--orgs", "1", "--items-per-org", "20", "--posts-per-org", "2", "--members-per-org", "2"]
    assert main([*argv, "--json", str(path)]) == 0
    captured = capsys.readouterr()
    assert "items" in captured.err
    assert "100%" in captured.err
    assert "seeded run" in captured.out
    document = json.loads(path.read_text())
    assert document["counts"]["items"] == 20
    assert len(document["orgs"]) == 1
    # The old form: a bare number creates that many accounts and nothing else.
    assert main(["3", "--no-progress"]) == 0
    assert "3 users" in capsys.readouterr().out


def test_progress_bar() -> None:
    stream = io.StringIO()
    bar = ProgressBar(100, stream=stream, width=10)
    bar("items", 50)
    assert "items" in stream.getvalue()
    assert "[#####.....]" in stream.getvalue()
    bar("comments", 80)  # more than estimated: the bar stops at full
    assert "[##########]" in stream.getvalue()
    bar.finish()
    assert stream.getvalue().endswith("\n")
