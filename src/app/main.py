"""The application factory, and `app` for `granian --interface asgi app.main:app`.

Everything is configured from the environment (`app.core.config`). A bad setting stops the
process with one line naming the variable.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from litestar import Litestar
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from sentry_sdk.transport import Transport

from app.accounts.auth import authenticate_request
from app.accounts.controller import AuthController, MfaController, UsersController
from app.accounts.login_throttle import LoginThrottle
from app.accounts.mfa import MfaService, SecondFactor
from app.accounts.service import AccountsService
from app.admin.controller import AdminController
from app.admin.service import AdminService
from app.core.cache import Cache
from app.core.config import Settings, load_settings, load_settings_or_exit
from app.core.db import Database
from app.core.encryption import SecretBox
from app.core.exceptions import exception_handlers
from app.core.hooks import in_order
from app.core.invalidation import InvalidationBus
from app.core.logging import configure_logging, get_logger
from app.core.metrics import mark_process_dead, multiprocess_dir, request_metrics
from app.core.middleware import ContextualLitestar
from app.core.monitoring import AlertManager, ErrorMonitoring
from app.core.openapi import StrictStructSchemaPlugin
from app.core.rate_limit import RateLimiter
from app.core.redis import create_redis
from app.core.security import PasswordHashing, TokenCodec
from app.core.strict_body import strict_json_body
from app.health.controller import HealthController
from app.idempotency.middleware import STATE_KEY as IDEMPOTENCY_STATE
from app.idempotency.store import IdempotencyStore
from app.inbound.controller import InboundWebhooksController
from app.inbound.service import InboundService
from app.items.controller import ItemsController
from app.items.service import ItemsService
from app.observability.controller import SAMPLER_STATE, DebugController, metrics
from app.observability.sampler import MetricsSampler
from app.orgs.api_keys import ApiKeyAuthenticator
from app.orgs.audit import AuditLogService
from app.orgs.auth import authorize_org_request
from app.orgs.controller import (
    ApiKeysController,
    AuditController,
    InvitationAcceptController,
    InvitationsController,
    MembersController,
    OrgsController,
)
from app.orgs.invitations import InvitationsService
from app.orgs.key_management import ApiKeysService
from app.orgs.memberships import MembershipCache
from app.orgs.service import OrgsService
from app.outbound.endpoints import WebhookEndpointsService
from app.outbound.endpoints_controller import WebhookEndpointsController
from app.posts.controller import ActivityController, PostsController
from app.posts.service import PostsService

__all__ = ["create_app"]

logger = get_logger(__name__)
API_VERSION = "0.1.0"


def _openapi() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="App API",
        version=API_VERSION,
        description=(
            "Multi-tenant API. Success bodies are `{data, meta}`; errors are RFC 9457 "
            "`application/problem+json` with a stable `code`."
        ),
        path="/docs",
        render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        components=Components(
            security_schemes={
                "BearerToken": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    bearer_format="JWT",
                    description="Access token from /auth/login (or an API key: Bearer sk_...).",
                ),
                "ApiKey": SecurityScheme(
                    type="apiKey",
                    name="X-API-Key",
                    security_scheme_in="header",
                    description="An organization's API key (sk_<prefix>_<secret>); org routes only.",
                ),
            }
        ),
    )


def _operator_routes(settings: Settings) -> list[Any]:
    """/metrics (unless only METRICS_PORT serves metrics) and, when enabled, /debug/sentry-test."""
    routes: list[Any] = []
    if settings.metrics_enabled and (settings.metrics_token is not None or settings.metrics_port is None):
        routes.append(metrics)
    if settings.debug_sentry_test_enabled:
        routes.append(DebugController)
    return routes


def create_app(
    settings: Settings | None = None, *, sentry_transport: type[Transport] | Transport | None = None
) -> Litestar:
    """Build the application. Resources are opened on start-up and closed on shutdown."""
    settings = settings or load_settings()
    configure_logging(settings.log_level)
    ErrorMonitoring.init_sentry(settings, transport=sentry_transport)
    db = Database(settings)
    redis = create_redis(settings)
    cache = Cache(redis, local_seconds=settings.cache_local_seconds)
    rate_limiter = RateLimiter(settings, redis)
    alerts = AlertManager.configure(settings, redis)
    sampler = MetricsSampler(db=db, cache=cache)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None]:
        await db.connect()
        # One Redis subscription per worker carries the invalidations of every per-worker cache.
        bus = InvalidationBus(redis=redis, redis_url=settings.redis_url)
        cache.attach(bus)
        memberships = MembershipCache(db=db, bus=bus, cache_seconds=settings.membership_cache_seconds)
        app.state["memberships"] = memberships
        passwords = PasswordHashing(settings)
        second_factor = SecondFactor(settings)
        throttle = LoginThrottle(redis=redis, settings=settings)
        app.state["accounts"] = AccountsService(
            settings=settings,
            db=db,
            passwords=passwords,
            tokens=TokenCodec(settings),
            memberships=memberships,
            second_factor=second_factor,
            throttle=throttle,
        )
        app.state["mfa"] = MfaService(
            db=db, passwords=passwords, second_factor=second_factor, throttle=throttle
        )
        api_keys = ApiKeyAuthenticator(
            db=db,
            bus=bus,
            cache_seconds=settings.api_key_cache_seconds,
            last_used_flush_seconds=settings.api_key_last_used_flush_seconds,
        )
        app.state["api_keys"] = api_keys
        app.state["orgs"] = OrgsService(db=db, api_keys=api_keys, memberships=memberships, cache=cache)
        app.state["invitations"] = InvitationsService(settings=settings, db=db, memberships=memberships)
        app.state["api_key_admin"] = ApiKeysService(db=db, api_keys=api_keys)
        app.state["audit"] = AuditLogService(db=db)
        app.state["items"] = ItemsService(db=db, cache=cache)
        app.state["posts"] = PostsService(db=db)
        app.state["inbound"] = InboundService(settings=settings, db=db)
        app.state["webhook_endpoints"] = WebhookEndpointsService(db=db, settings=settings)
        app.state["admin"] = AdminService(db=db)
        app.state[IDEMPOTENCY_STATE] = IdempotencyStore(
            db=db,
            sealer=SecretBox.from_setting(
                settings.encryption_key,
                fallback_secret=settings.secret_key,
                label="app/idempotent-responses/v1",
            ),
            ttl=timedelta(hours=settings.idempotency_ttl_hours),
        )
        bus.start()
        api_keys.start()
        if multiprocess_dir() is not None:
            sampler.start()  # other workers may answer the scrapes: publish this one's numbers
        if redis is None:
            logger.warning("REDIS_URL not set: running without Redis (development only)")
        logger.info("started", extra={"environment": settings.environment})
        # Everything built so far (modules, routes, schemas, services) lives as long as the
        # process: out of the collector's sight, full collections no longer walk it again and
        # again (docs/BENCHMARKS.md).
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            await bus.stop()
            await api_keys.stop()
            await sampler.stop()
            await AlertManager.drain()
            await alerts.aclose()
            await db.close()
            if redis is not None:
                await redis.aclose()
            ErrorMonitoring.flush()
            request_metrics.flush()
            mark_process_dead()

    app = ContextualLitestar(
        route_handlers=[
            HealthController,
            AuthController,
            MfaController,
            UsersController,
            OrgsController,
            MembersController,
            InvitationsController,
            InvitationAcceptController,
            ApiKeysController,
            AuditController,
            ItemsController,
            PostsController,
            ActivityController,
            InboundWebhooksController,
            AdminController,
            WebhookEndpointsController,
            *_operator_routes(settings),
        ],
        lifespan=[lifespan],
        # Org access first (401/403/404 before anything reads the body), then strict bodies.
        before_request=in_order(
            authorize_org_request,
            # Once the caller is known, before the body is read (app/core/rate_limit.py).
            *rate_limiter.before_request_steps(authenticate=authenticate_request, dependency="principal"),
            strict_json_body(authenticate=authenticate_request, dependency="principal"),
        ),
        after_exception=[ErrorMonitoring.report_request_error],
        exception_handlers=exception_handlers(),  # pyright: ignore[reportArgumentType]
        openapi_config=_openapi(),
        # Request-body Structs documented as strict as msgspec decodes them (app/core/openapi.py).
        plugins=[StrictStructSchemaPlugin()],
        request_max_body_size=settings.max_request_body_bytes,
        debug=False,
        logging_config=None,
    )
    app.state["settings"] = settings
    app.state["db"] = db
    app.state["redis"] = redis
    app.state["cache"] = cache
    app.state["rate_limiter"] = rate_limiter
    app.state[SAMPLER_STATE] = sampler
    app.access_log = settings.access_log
    return app


def _app_from_environment() -> Litestar:
    return create_app(load_settings_or_exit())


def __getattr__(name: str) -> Litestar:
    """Build `app` on first access (PEP 562), so importing this module has no side effects."""
    if name == "app":
        application = _app_from_environment()
        globals()["app"] = application
        return application
    raise AttributeError(name)
