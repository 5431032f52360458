"""`just seed`: fill DATABASE_URL with demo accounts for local use and manual testing.

Every seeded account has a verified email `<username>@seed.example` and the password
`seed-password-123` (shown once below). Running it again adds new accounts; it never
changes existing ones. Later features extend this with organizations and resources.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
from datetime import UTC, datetime

import asyncpg

from app.core.config import Settings
from app.core.ids import new_id
from app.core.security import PasswordHashing

SEED_PASSWORD = "seed-password-123"
BATCH = 500


def _progress(done: int, total: int) -> None:
    width = 30
    filled = width * done // total if total else width
    sys.stderr.write(f"\rusers [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    sys.stderr.flush()


async def seed_users(database_url: str, count: int) -> int:
    """Insert `count` verified demo users in batches of one statement each; returns the count."""
    # One argon2 hash shared by all seeded users: the same password, hashed once.
    hasher = PasswordHashing(Settings(database_url=database_url, environment="development"))
    password_hash = await hasher.hash(SEED_PASSWORD)
    run = secrets.token_hex(3)
    now = datetime.now(UTC)
    conn = await asyncpg.connect(database_url)
    try:
        done = 0
        while done < count:
            size = min(BATCH, count - done)
            rows = [
                (
                    new_id(),
                    f"seed_{run}_{done + i}@seed.example",
                    f"seed_{run}_{done + i}",
                    password_hash,
                    now,
                )
                for i in range(size)
            ]
            await conn.executemany(
                "INSERT INTO users (id, email, username, password_hash, email_verified_at)"
                " VALUES ($1, $2, $3, $4, $5)",
                rows,
            )
            done += size
            _progress(done, count)
        sys.stderr.write("\n")
    finally:
        await conn.close()
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.seed", description="Create demo accounts.")
    parser.add_argument("--users", type=int, default=50, help="how many accounts (default 50)")
    args = parser.parse_args(argv)
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        print("configuration error: DATABASE_URL: missing (a postgresql:// URL is required)", file=sys.stderr)  # noqa: T201
        return 2
    if args.users < 1:
        print("--users must be at least 1", file=sys.stderr)  # noqa: T201
        return 2
    count = asyncio.run(seed_users(database_url, args.users))
    print(f"seeded {count} users; each signs in with password {SEED_PASSWORD!r}")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
