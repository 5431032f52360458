"""`just dev`: serve the app with auto-reload, starting embedded services when none are configured.

With no DATABASE_URL an embedded PostgreSQL is started under `.data/postgres` (database `app`);
with no REDIS_URL an embedded Redis under `.data/redis`. Migrations are applied, then granian
serves `app.main:app` with reload, and the job worker (`python -m app.worker`) runs beside it
with the same settings, so queued emails and webhook events are processed (emails go to the
log unless MAIL_BACKEND says otherwise). Both embedded services are development conveniences
and are refused when ENVIRONMENT=production.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from types import FrameType

from app.core.logging import configure_logging, get_logger
from app.dev.embedded import DATA_DIR, ROOT, EmbeddedRedis, ensure_database, start_postgres
from app.migrate import apply_all

logger = get_logger("app.dev")


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    del signum, frame
    sys.exit(0)


def granian_command(*, host: str, port: str, options: Sequence[str] = ()) -> list[str]:
    """The granian command line serving `app.main:app` with this interpreter (HTTP only)."""
    return [
        sys.executable,
        *("-m", "granian", "--interface", "asgi", "--loop", "uvloop", "--no-ws"),
        *("--host", host, "--port", port),
        *options,
        "app.main:app",
    ]


def main() -> int:
    configure_logging("INFO")
    env = dict(os.environ)
    env.setdefault("ENVIRONMENT", "development")
    embedded_redis: EmbeddedRedis | None = None
    if env["ENVIRONMENT"] == "production" and not (env.get("DATABASE_URL") and env.get("REDIS_URL")):
        print("configuration error: DATABASE_URL and REDIS_URL are required in production", file=sys.stderr)  # noqa: T201
        return 2
    if not env.get("DATABASE_URL"):
        server = start_postgres(DATA_DIR / "postgres")
        asyncio.run(ensure_database(server.get_uri("postgres"), "app"))
        env["DATABASE_URL"] = server.get_uri("app")
        logger.warning(
            "DATABASE_URL not set: using an embedded PostgreSQL (development convenience)",
            extra={"data_dir": str(DATA_DIR / "postgres")},
        )
    if not env.get("REDIS_URL"):
        embedded_redis = EmbeddedRedis(DATA_DIR / "redis")
        env["REDIS_URL"] = embedded_redis.start()
        logger.warning(
            "REDIS_URL not set: using an embedded Redis (development convenience)",
            extra={"data_dir": str(DATA_DIR / "redis")},
        )
    # Print the links of queued emails too, so the flows can be followed with curl.
    env.setdefault("LOG_EMAIL_LINKS", "true")
    applied = apply_all(env["DATABASE_URL"])
    logger.info("migrations applied", extra={"applied": applied})
    reload = ["--reload", "--reload-paths", str(ROOT / "src"), "--reload-paths", str(ROOT / "sql")]
    command = granian_command(host=env.get("HOST", "127.0.0.1"), port=env.get("PORT", "8000"), options=reload)
    # SIGTERM unwinds like Ctrl-C, so the finally block stops what this process started
    # (the embedded PostgreSQL stops through its own exit hook).
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    process = subprocess.Popen(command, env=env)  # noqa: S603 - our own interpreter and module
    worker = subprocess.Popen([sys.executable, "-m", "app.worker"], env=env)
    try:
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for child in (worker, process):
            if child.poll() is None:
                child.terminate()
                child.wait(30)
        if embedded_redis is not None:
            embedded_redis.stop()


if __name__ == "__main__":
    raise SystemExit(main())
