"""Apply or roll back the plain-SQL migrations in `migrations/` with yoyo.

    python -m app.migrate up            apply every pending migration
    python -m app.migrate down          roll back the last applied migration
    python -m app.migrate down --all    roll back everything
    python -m app.migrate status        list migrations and whether each is applied
    python -m app.migrate new NAME      create NNNN_name.sql and NNNN_name.rollback.sql

The database is the one named by DATABASE_URL (the same plain postgresql:// URL the app uses).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

import yoyo  # pyright: ignore[reportMissingTypeStubs]

# yoyo ships no type information.
_yoyo: Any = yoyo
get_backend = _yoyo.get_backend
read_migrations = _yoyo.read_migrations

__all__ = ["MIGRATIONS_DIR", "apply_all", "rollback", "yoyo_url"]

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def yoyo_url(database_url: str) -> str:
    """yoyo needs the driver in the scheme; we use psycopg 3."""
    return re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", database_url)


def apply_all(database_url: str) -> list[str]:
    """Apply pending migrations; returns the ids applied."""
    migrations = read_migrations(str(MIGRATIONS_DIR))
    with get_backend(yoyo_url(database_url)) as backend, backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    return [m.id for m in pending]


def rollback(database_url: str, *, everything: bool = False) -> list[str]:
    """Roll back the last applied migration (or all of them); returns the ids rolled back."""
    migrations = read_migrations(str(MIGRATIONS_DIR))
    with get_backend(yoyo_url(database_url)) as backend, backend.lock():
        applied = backend.to_rollback(migrations)
        chosen = applied if everything else applied[:1]
        backend.rollback_migrations(chosen)
    return [m.id for m in chosen]


def status(database_url: str) -> list[tuple[str, bool]]:
    migrations = read_migrations(str(MIGRATIONS_DIR))
    with get_backend(yoyo_url(database_url)) as backend:
        applied = {m.id for m in migrations if backend.is_applied(m)}
    return [(m.id, m.id in applied) for m in migrations]


def new_migration(name: str) -> tuple[Path, Path]:
    if not re.fullmatch(r"[a-z][a-z0-9_]{1,60}", name):
        raise SystemExit("migration name: lower-case letters, digits and underscores")
    existing = sorted(
        p.name
        for p in MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql")
        if not p.name.endswith(".rollback.sql")
    )
    number = int(existing[-1][:4]) + 1 if existing else 1
    previous = existing[-1].removesuffix(".sql") if existing else ""
    stem = f"{number:04d}_{name}"
    up = MIGRATIONS_DIR / f"{stem}.sql"
    down = MIGRATIONS_DIR / f"{stem}.rollback.sql"
    up.write_text(f"-- TODO: what this migration does and why.\n-- depends: {previous}\n\n")
    down.write_text(f"-- Undo {stem}.\n\n")
    return up, down


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.migrate", description=(__doc__ or "").split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up")
    down = sub.add_parser("down")
    down.add_argument("--all", action="store_true", help="roll back every migration")
    sub.add_parser("status")
    new = sub.add_parser("new")
    new.add_argument("name")
    args = parser.parse_args(argv)

    if args.command == "new":
        for path in new_migration(args.name):
            print(f"created {path.relative_to(MIGRATIONS_DIR.parent)}")  # noqa: T201
        return 0
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        print("configuration error: DATABASE_URL: missing (a postgresql:// URL is required)", file=sys.stderr)  # noqa: T201
        return 2
    if args.command == "up":
        done = apply_all(database_url)
        print(f"applied {len(done)} migration(s): {', '.join(done) or '-'}")  # noqa: T201
    elif args.command == "down":
        done = rollback(database_url, everything=args.all)
        print(f"rolled back {len(done)} migration(s): {', '.join(done) or '-'}")  # noqa: T201
    else:
        for migration_id, applied in status(database_url):
            print(f"{'applied' if applied else 'pending'}  {migration_id}")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
