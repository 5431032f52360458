"""`just seed`: fill DATABASE_URL with a realistic data set, for local use and benchmarks.

By default: 100 organizations, each with 5 members (an owner, an admin, members and a viewer),
one API key, 2,000 items, 200 posts (most published) and about 5 comments per published post.
Everything is written by set-based SQL (`app.seed_sql`), in one transaction, with a progress
bar on stderr; 200k items take seconds.

Every seeded account has a verified email (`<first>.<last>.<n>.<run>@seed.example`) and the
password `seed-password-123`. Each run has its own tag in emails, usernames and slugs, so running
it again adds a new data set next to the old one. `--json PATH` writes what a benchmark needs to
act in some of the orgs: their ids, an owner's login, a freshly made API key (shown nowhere
else: the database keeps only its digest), and a few item and post ids.

`python -m app.seed 500` (a bare number, as before) creates 500 accounts and nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import asyncpg
import msgspec

from app.core.config import Settings
from app.core.security import PasswordHashing
from app.seed_sql import SEED_PASSWORD, SeedOptions, SeedResult, sample_ids, seed_data

__all__ = ["SEED_PASSWORD", "ProgressBar", "main", "run_seed"]


class ProgressBar:
    """One line on stderr, redrawn as rows arrive: the step, a bar, rows done, time taken."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 30) -> None:
        self.total = max(total, 1)
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._width = width
        self._started = time.monotonic()
        self._label = "start"

    def __call__(self, label: str, rows: int) -> None:
        self._label = label
        self.done += rows
        self._draw()

    def _draw(self, final: bool = False) -> None:
        share = 1.0 if final else min(self.done / self.total, 1.0)
        filled = int(self._width * share)
        elapsed = time.monotonic() - self._started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        self._stream.write(
            f"\r{self._label:<9} [{'#' * filled}{'.' * (self._width - filled)}] {share:4.0%}"
            f" {self.done:>10,} rows {elapsed:6.1f}s {rate:>9,.0f} rows/s"
        )
        self._stream.flush()

    def finish(self, label: str = "done") -> None:
        self._label = label
        self._draw(final=True)
        self._stream.write("\n")
        self._stream.flush()


async def _password_hash(database_url: str) -> str:
    """One argon2 hash (production cost) shared by every seeded account: the same password."""
    hasher = PasswordHashing(Settings(database_url=database_url, environment="development"))
    return await hasher.hash(SEED_PASSWORD)


async def run_seed(
    database_url: str,
    options: SeedOptions,
    *,
    json_path: Path | None = None,
    json_orgs: int = 10,
    json_ids: int = 5,
    progress: bool = True,
    password_hash: str | None = None,
) -> SeedResult:
    """Seed `database_url`; with `json_path`, write the benchmark's login file there."""
    password_hash = password_hash or await _password_hash(database_url)
    bar = ProgressBar(options.estimated_rows()) if progress else None
    conn: asyncpg.Connection[Any] = await asyncpg.connect(database_url)
    try:
        result = await seed_data(conn, options, password_hash=password_hash, progress=bar)
        if bar is not None:
            bar.finish()
        if json_path is not None:
            document = await _login_document(conn, result, json_orgs, json_ids)
            await asyncio.to_thread(_write_json, json_path, document)
    finally:
        await conn.close()
    return result


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(msgspec.json.format(msgspec.json.encode(document)) + b"\n")


async def _login_document(
    conn: asyncpg.Connection[Any], result: SeedResult, orgs: int, ids: int
) -> dict[str, Any]:
    chosen = result.orgs[:orgs] if orgs > 0 else result.orgs
    org_ids = [org.id for org in chosen]
    items = await sample_ids(conn, "items", org_ids, ids)
    posts = await sample_ids(conn, "posts", org_ids, ids)
    return {
        "run": result.run,
        "created_at": datetime.now(UTC),
        "password": SEED_PASSWORD,
        "counts": result.counts,
        "orgs": [
            {
                "id": org.id,
                "name": org.name,
                "slug": org.slug,
                "items": org.item_count,
                "owner": {"email": org.owner_email, "password": SEED_PASSWORD},
                "api_key": org.api_keys[0][0] if org.api_keys else None,
                "api_key_role": org.api_keys[0][1] if org.api_keys else None,
                "api_keys": [{"key": key, "role": role} for key, role in org.api_keys],
                "item_ids": items[org.id],
                "post_ids": posts[org.id],
            }
            for org in chosen
        ],
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app.seed",
        description=(
            "Fill DATABASE_URL with a realistic data set: organizations with members, API keys, "
            "items, posts and comments (set-based SQL, one transaction, progress on stderr). Each "
            f"account signs in with password {SEED_PASSWORD!r}; each run adds a new data set."
        ),
        epilog=(
            "Examples: `just seed` (100 orgs x 2,000 items); `just seed --orgs 10 --items-per-org 500`;"
            " `just seed --json bench/seed.json`; `just seed 500` (500 accounts only, as before)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    defaults = SeedOptions()
    parser.add_argument(
        "legacy_users",
        nargs="?",
        type=int,
        metavar="USERS",
        help="old form: create this many accounts and nothing else (same as --orgs 0 --users USERS)",
    )
    parser.add_argument("--orgs", type=int, default=defaults.orgs, help="organizations to create")
    parser.add_argument("--items-per-org", type=int, default=defaults.items_per_org, help="items per org")
    parser.add_argument(
        "--big-org-items",
        type=int,
        default=defaults.big_org_items,
        help="give the first org this many items instead (a large tenant); 0 = like the others",
    )
    parser.add_argument(
        "--members-per-org",
        type=int,
        default=defaults.members_per_org,
        help="accounts per org: the 1st owns it, the 2nd is an admin, then members (every 4th a viewer)",
    )
    parser.add_argument("--posts-per-org", type=int, default=defaults.posts_per_org, help="posts per org")
    parser.add_argument(
        "--comments-per-post",
        type=int,
        default=defaults.comments_per_post,
        help="mean comments per published post (each gets 0 to twice this)",
    )
    parser.add_argument(
        "--api-keys-per-org",
        type=int,
        default=defaults.api_keys_per_org,
        help="API keys per org (the 1st admin, then member, viewer, ...)",
    )
    parser.add_argument(
        "--users", type=int, default=defaults.users, help="extra verified accounts that belong to no org"
    )
    parser.add_argument(
        "--json",
        type=Path,
        metavar="PATH",
        help="write org ids, owner logins, API keys and some item/post ids of the run to PATH",
    )
    parser.add_argument("--json-orgs", type=int, default=10, help="how many orgs --json lists (0 = all)")
    parser.add_argument("--json-ids", type=int, default=5, help="item and post ids per org in --json")
    parser.add_argument(
        "--no-vacuum", action="store_true", help="skip the VACUUM (ANALYZE) of the seeded tables at the end"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return parser


def _options(args: argparse.Namespace) -> SeedOptions:
    if args.legacy_users is not None:
        return SeedOptions(orgs=0, users=args.legacy_users)
    return SeedOptions(
        orgs=args.orgs,
        items_per_org=args.items_per_org,
        big_org_items=args.big_org_items,
        members_per_org=args.members_per_org,
        posts_per_org=args.posts_per_org,
        comments_per_post=args.comments_per_post,
        api_keys_per_org=args.api_keys_per_org,
        users=args.users,
        vacuum=not args.no_vacuum,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    options = _options(args)
    problems = options.problems()
    if args.json_orgs < 0 or args.json_ids < 0:
        problems.append("--json-orgs and --json-ids must not be negative")
    if problems:
        parser.error("; ".join(problems))
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        print("configuration error: DATABASE_URL: missing (a postgresql:// URL is required)", file=sys.stderr)  # noqa: T201
        return 2
    started = time.monotonic()
    result = asyncio.run(
        run_seed(
            database_url,
            options,
            json_path=args.json,
            json_orgs=args.json_orgs,
            json_ids=args.json_ids,
            progress=not args.no_progress,
        )
    )
    created = ", ".join(f"{count:,} {table}" for table, count in result.counts.items())
    print(f"seeded run {result.run} in {time.monotonic() - started:.1f}s: {created}")  # noqa: T201
    print(f"every account signs in with password {SEED_PASSWORD!r}")  # noqa: T201
    if result.orgs:
        first = result.orgs[0]
        print(f"e.g. org {first.id} ({first.slug}), owner {first.owner_email}")  # noqa: T201
    if args.json is not None:
        print(f"logins and API keys written to {args.json}")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
