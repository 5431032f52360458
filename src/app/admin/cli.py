"""Grant or revoke platform admin: ``python -m app.admin.cli grant|revoke EMAIL`` (``just admin``)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from app.admin import queries
from app.core.config import ConfigError, load_settings
from app.core.db import Database


async def _run(action: str, email: str) -> bool:
    db = Database(load_settings())
    await db.connect()
    try:
        async with db.transaction() as conn:
            if action == "grant":
                return await queries.grant_platform_admin(
                    conn, email=email, granted_by=f"cli:{getpass.getuser()}"
                )
            return await queries.revoke_platform_admin(conn, email=email)
    finally:
        await db.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.admin.cli", description=__doc__)
    parser.add_argument("action", choices=["grant", "revoke"])
    parser.add_argument("email")
    args = parser.parse_args(argv)
    try:
        changed = asyncio.run(_run(args.action, args.email))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    if not changed:
        what = "no live user with that email" if args.action == "grant" else "not a platform admin"
        print(f"{args.email}: {what}", file=sys.stderr)  # noqa: T201
        return 1
    print(f"{args.email}: platform admin {'granted' if args.action == 'grant' else 'revoked'}")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
