"""Liveness and readiness probes for orchestrators and load balancers."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import msgspec
from litestar import Controller, Request, Response, get
from litestar.openapi.datastructures import ResponseSpec

from app.core.db import Database
from app.core.logging import get_logger
from app.core.monitoring import AlertManager
from app.core.responses import Envelope, create_success_response, problem_responses

__all__ = ["HealthController"]

logger = get_logger(__name__)
CHECK_TIMEOUT_SECONDS = 2.0
CheckState = Literal["ok", "down", "disabled"]


class LiveOut(msgspec.Struct, frozen=True):
    status: Literal["ok"] = "ok"


class ReadyOut(msgspec.Struct, frozen=True):
    status: Literal["ok", "degraded", "unavailable"]
    database: CheckState
    redis: CheckState


async def _check_database(db: Database) -> CheckState:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS), db.connection() as conn:
            await conn.fetchval("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        logger.warning("readiness: database check failed", extra={"error": type(exc).__name__})
        # Probes run every few seconds on every instance: a real outage, de-duplicated.
        AlertManager.database_unreachable(exc)
        return "down"
    return "ok"


async def _check_redis(redis: Any) -> CheckState:
    if redis is None:
        return "disabled"
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await redis.ping()
    except Exception as exc:  # noqa: BLE001 - Redis down only degrades the service
        logger.warning("readiness: redis check failed", extra={"error": type(exc).__name__})
        return "down"
    return "ok"


class HealthController(Controller):
    path = "/health"
    tags = ["health"]

    @get("/live", summary="The process is up", cache=False)
    async def live(self) -> Response[Envelope[LiveOut]]:
        return create_success_response(LiveOut())

    @get(
        "/ready",
        summary="Ready to serve: database reachable (503 if not); Redis down only degrades",
        cache=False,
        responses={
            **problem_responses(server_errors=True, rate_limited=False),
            # Not an error but a probe result: the same envelope, so operators see which check failed.
            503: ResponseSpec(
                data_container=Envelope[ReadyOut], description="Not ready: the database is unreachable"
            ),
        },
    )
    async def ready(self, request: Request[Any, Any, Any]) -> Response[Envelope[ReadyOut]]:
        state = request.app.state
        database, redis = await asyncio.gather(_check_database(state["db"]), _check_redis(state["redis"]))
        if database != "ok":
            status, code = "unavailable", 503
        elif redis == "down":
            status, code = "degraded", 200
        else:
            status, code = "ok", 200
        return create_success_response(
            ReadyOut(status=status, database=database, redis=redis), status_code=code
        )
