"""Settings read from environment variables and validated once at start-up.

Every field of `Settings` is read from the environment variable of the same name in upper case
(`database_url` <- `DATABASE_URL`). A missing or invalid value raises `ConfigError` whose message
is one line naming the variable and what is wrong with it.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from typing import Annotated, Literal

import msgspec

from app.core.encryption import parse_keys

__all__ = ["ConfigError", "Settings", "load_settings", "load_settings_or_exit"]

Environment = Literal["development", "test", "production"]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
SampleRate = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]

# Only good enough for a laptop: production refuses to start with it.
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me-0123456789"
_PATH_RE = re.compile(r"`\$\.(\w+)`")


def _no_sources() -> dict[str, tuple[str, ...]]:
    return {}


class ConfigError(Exception):
    """A setting is missing or invalid; the message names the variable."""


class Settings(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """All runtime configuration. Field `x_y` comes from environment variable `X_Y`."""

    environment: Environment = "development"
    database_url: str
    redis_url: str | None = None
    secret_key: Annotated[str, msgspec.Meta(min_length=32)] = DEV_SECRET_KEY
    public_base_url: str = "http://localhost:8000"

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    access_log: bool = True
    # Development only: print the links of queued emails (there is no mail server yet).
    log_email_links: bool = False

    sentry_dsn: str | None = None
    sentry_traces_sample_rate: SampleRate = 0.0
    sentry_profiles_sample_rate: SampleRate = 0.0
    release: str | None = None

    db_pool_min_size: Annotated[int, msgspec.Meta(ge=0)] = 2
    db_pool_max_size: PositiveInt = 10
    db_pool_acquire_timeout: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    db_statement_timeout_ms: PositiveInt = 5_000
    db_idle_in_transaction_timeout_ms: PositiveInt = 10_000
    redis_timeout_seconds: Annotated[float, msgspec.Meta(gt=0)] = 0.5

    max_request_body_bytes: PositiveInt = 1_048_576
    # How long the first response to a request with an Idempotency-Key is kept and replayed.
    idempotency_ttl_hours: Annotated[int, msgspec.Meta(ge=1, le=168)] = 24

    jwt_issuer: str = "app"
    jwt_audience: str = "app-api"
    access_token_ttl_seconds: Annotated[int, msgspec.Meta(ge=60, le=86_400)] = 900
    refresh_token_ttl_days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 30
    email_verification_ttl_hours: Annotated[int, msgspec.Meta(ge=1, le=720)] = 48
    password_reset_ttl_minutes: Annotated[int, msgspec.Meta(ge=5, le=1_440)] = 60
    # How long a worker may keep trusting that a session is still active (revocation delay bound).
    session_cache_seconds: Annotated[float, msgspec.Meta(ge=0, le=60)] = 5.0
    # How long a worker trusts what it read about an API key; bounds revocation delay without Redis.
    api_key_cache_seconds: Annotated[float, msgspec.Meta(ge=0, le=60)] = 5.0
    # How long a worker trusts what it read about a user's membership (role) in an org; bounds
    # how long a removed or demoted member keeps access on other workers without Redis.
    membership_cache_seconds: Annotated[float, msgspec.Meta(ge=0, le=60)] = 5.0
    api_key_last_used_flush_seconds: Annotated[float, msgspec.Meta(gt=0, le=3_600)] = 30.0
    # How long a worker keeps cached values (single items, orgs) in memory in front of Redis; 0 turns
    # it off. Other workers drop an invalidated value through Redis pub/sub; without Redis, after this.
    cache_local_seconds: Annotated[float, msgspec.Meta(ge=0, le=60)] = 2.0
    invitation_ttl_days: Annotated[int, msgspec.Meta(ge=1, le=30)] = 7

    # Two-factor authentication (docs/MFA.md). The issuer names the service in authenticator apps.
    mfa_issuer: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[^:\x00-\x1f]+$")] = "App"
    # Master key of what is encrypted at rest (TOTP secrets, stored idempotent responses; a subkey
    # per purpose): 32 bytes, URL-safe base64; several comma-separated while rotating (the first
    # encrypts). Unset outside production: derived from SECRET_KEY.
    encryption_key: str | None = None
    mfa_challenge_ttl_seconds: Annotated[int, msgspec.Meta(ge=30, le=1_800)] = 300
    # Wrong codes one sign-in challenge accepts before it is spent (the password is asked again).
    mfa_challenge_max_attempts: Annotated[int, msgspec.Meta(ge=1, le=20)] = 5

    argon2_time_cost: Annotated[int, msgspec.Meta(ge=1, le=10)] = 3
    argon2_memory_kib: Annotated[int, msgspec.Meta(ge=8_192, le=1_048_576)] = 65_536
    argon2_parallelism: Annotated[int, msgspec.Meta(ge=1, le=16)] = 1
    password_hash_concurrency: Annotated[int, msgspec.Meta(ge=1, le=64)] = 4

    # Rate limits (docs/OPERATIONS.md#rate-limits): a bucket of REQUESTS per WINDOW_SECONDS for each
    # caller (API key, else user, else client IP) and route group, shared by every worker via Redis.
    rate_limit_enabled: bool = True
    # Prepended to every rate-limit and login-throttle key in Redis (lets several deployments or
    # test runs share one Redis).
    rate_limit_key_prefix: Annotated[str, msgspec.Meta(max_length=64, pattern=r"^[A-Za-z0-9:_.-]*$")] = "rl:"
    # Proxies in front of the service that append the client's address to X-Forwarded-For; 0 (the
    # default) ignores the header and limits by the connection's address.
    rate_limit_trusted_proxy_hops: Annotated[int, msgspec.Meta(ge=0, le=5)] = 0
    rate_limit_auth_requests: Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000)] = 30
    rate_limit_auth_window_seconds: Annotated[int, msgspec.Meta(ge=1, le=86_400)] = 60
    rate_limit_write_requests: Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000)] = 600
    rate_limit_write_window_seconds: Annotated[int, msgspec.Meta(ge=1, le=86_400)] = 60
    rate_limit_read_requests: Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000)] = 3_000
    rate_limit_read_window_seconds: Annotated[int, msgspec.Meta(ge=1, le=86_400)] = 60
    rate_limit_webhooks_requests: Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000)] = 1_200
    rate_limit_webhooks_window_seconds: Annotated[int, msgspec.Meta(ge=1, le=86_400)] = 60
    # Failed sign-ins (app.accounts.login_throttle), counted per account and per client IP over
    # LOGIN_FAILURE_WINDOW_SECONDS: after LOGIN_FAILURES_BEFORE_DELAY failures each attempt waits
    # LOGIN_DELAY_BASE_SECONDS, growing by LOGIN_DELAY_FACTOR per failure up to LOGIN_DELAY_MAX_SECONDS;
    # at the lockout thresholds, 429 for LOGIN_LOCKOUT_SECONDS.
    login_failures_before_delay: Annotated[int, msgspec.Meta(ge=0, le=1_000)] = 3
    login_delay_base_seconds: Annotated[float, msgspec.Meta(ge=0, le=10)] = 0.5
    login_delay_factor: Annotated[float, msgspec.Meta(ge=1, le=10)] = 2.0
    login_delay_max_seconds: Annotated[float, msgspec.Meta(ge=0, le=30)] = 8.0
    login_lockout_after_failures: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 10
    login_ip_lockout_after_failures: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 100
    login_failure_window_seconds: Annotated[int, msgspec.Meta(ge=1, le=86_400)] = 900
    login_lockout_seconds: Annotated[int, msgspec.Meta(ge=1, le=86_400)] = 900

    # Inbound webhooks: one source per WEBHOOK_SECRET_<SOURCE> variable (several secrets,
    # comma-separated, while rotating). Filled by load_settings, not by a variable of this name.
    webhook_secrets: dict[str, tuple[str, ...]] = msgspec.field(default_factory=_no_sources)
    webhook_max_body_bytes: Annotated[int, msgspec.Meta(ge=1_024, le=10_485_760)] = 262_144
    webhook_tolerance_seconds: Annotated[int, msgspec.Meta(ge=30, le=3_600)] = 300
    # Outbound webhooks: per-attempt timeout; an endpoint failing without a success for this
    # long (and at least webhook_disable_after_failures times in a row) is disabled.
    webhook_timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=30)] = 10.0
    webhook_disable_after_hours: Annotated[float, msgspec.Meta(gt=0, le=720)] = 72.0
    webhook_disable_after_failures: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 20
    # Lets endpoints on 127.0.0.1/::1 through the SSRF guard: tests and local development only.
    webhook_allow_loopback: bool = False
    # After a secret rotation the replaced secret keeps signing deliveries (beside the new one)
    # this long, so receivers can switch without rejecting any; 0 stops it at once.
    webhook_rotation_grace_hours: Annotated[float, msgspec.Meta(ge=0, le=720)] = 24.0
    max_webhook_endpoints_per_org: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20

    # The job worker (python -m app.worker).
    worker_concurrency: Annotated[int, msgspec.Meta(ge=1, le=256)] = 8
    worker_poll_seconds: Annotated[float, msgspec.Meta(gt=0, le=300)] = 5.0
    # Renewed every third of this while a job runs: how soon a dead worker's jobs run again.
    job_lease_seconds: Annotated[float, msgspec.Meta(ge=3, le=3_600)] = 30.0
    worker_shutdown_grace_seconds: Annotated[float, msgspec.Meta(ge=0, le=600)] = 20.0
    job_retention_days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 7
    # Domain events (and with them their deliveries and attempt log) are kept this long.
    event_retention_days: Annotated[int, msgspec.Meta(ge=4, le=3_650)] = 30
    # Handled (processed or ignored) inbound webhook events are kept this long; failed ones stay.
    # At least a week: a provider's retry of a purged event id would be stored and handled again.
    inbound_retention_days: Annotated[int, msgspec.Meta(ge=7, le=3_650)] = 30
    # Extra modules whose `register(registry, context)` adds job kinds (comma-separated).
    job_handler_modules: str = ""

    # Email: "log" (development), "file" (one .eml per email in mail_file_dir) or "smtp".
    mail_backend: Literal["log", "file", "smtp"] = "log"
    mail_from_address: str = "App <no-reply@localhost>"
    mail_file_dir: str = ".data/mail"
    smtp_host: str = "localhost"
    smtp_port: Annotated[int, msgspec.Meta(ge=1, le=65_535)] = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_tls: bool = False
    smtp_timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=120)] = 10.0

    # Observability (docs/OPERATIONS.md: "Metrics", "Alerts", "Slow queries").
    metrics_enabled: bool = True
    # When set, /metrics (and METRICS_PORT) answer only `Authorization: Bearer <METRICS_TOKEN>`.
    metrics_token: Annotated[str, msgspec.Meta(min_length=16)] | None = None
    # Serve metrics on this port from `python -m app.serve`'s main process (all workers summed);
    # without METRICS_TOKEN, /metrics is then not served on the API port at all.
    metrics_port: Annotated[int, msgspec.Meta(ge=1, le=65_535)] | None = None
    metrics_host: str = "0.0.0.0"  # noqa: S104 - scraped from another host; keep the port internal
    # Where worker processes of `python -m app.serve` share their metric files (default: <tmp>/app-metrics).
    metrics_multiproc_dir: str | None = None
    # The job worker's own metrics (python -m app.worker), on this port when set.
    metrics_port_worker: Annotated[int, msgspec.Meta(ge=1, le=65_535)] | None = None
    alert_webhook_url: str | None = None
    # The same alert title is sent at most once per this many seconds (across processes via Redis).
    alert_dedupe_seconds: Annotated[float, msgspec.Meta(ge=0, le=86_400)] = 300.0
    alert_webhook_timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=60)] = 5.0
    # Statements slower than this are logged (and counted) by query name; 0 turns it off.
    slow_query_ms: Annotated[int, msgspec.Meta(ge=0, le=3_600_000)] = 200
    debug_sentry_test_enabled: bool = False

    @property
    def is_production(self) -> bool:
        return self.environment == "production"


def _check(settings: Settings) -> None:
    """Rules that span fields or depend on the environment."""
    if not settings.database_url.startswith(("postgresql://", "postgres://")):
        raise ConfigError("DATABASE_URL: must be a postgresql:// URL")
    if settings.redis_url is not None and not settings.redis_url.startswith(
        ("redis://", "rediss://", "unix://")
    ):
        raise ConfigError("REDIS_URL: must be a redis://, rediss:// or unix:// URL")
    if settings.db_pool_min_size > settings.db_pool_max_size:
        raise ConfigError("DB_POOL_MIN_SIZE: must not exceed DB_POOL_MAX_SIZE")
    if settings.alert_webhook_url is not None and not settings.alert_webhook_url.startswith(
        ("https://", "http://")
    ):
        raise ConfigError("ALERT_WEBHOOK_URL: must be an http:// or https:// URL")
    if settings.is_production:
        if settings.secret_key == DEV_SECRET_KEY:
            raise ConfigError("SECRET_KEY: required in production (at least 32 characters)")
        if settings.redis_url is None:
            raise ConfigError("REDIS_URL: required in production")
        if settings.log_email_links:
            raise ConfigError("LOG_EMAIL_LINKS: must be off in production (links carry secrets)")
        if settings.webhook_allow_loopback:
            raise ConfigError("WEBHOOK_ALLOW_LOOPBACK: must be off in production (SSRF)")
        if settings.encryption_key is None:
            raise ConfigError("ENCRYPTION_KEY: required in production (32 bytes, URL-safe base64)")
        if settings.metrics_enabled and settings.metrics_token is None and settings.metrics_port is None:
            raise ConfigError(
                "METRICS_TOKEN: required in production to serve /metrics "
                "(or set METRICS_PORT for an internal port, or METRICS_ENABLED=false)"
            )
    if settings.encryption_key is not None:
        try:
            parse_keys(settings.encryption_key)
        except ValueError as exc:
            raise ConfigError(f"ENCRYPTION_KEY: {exc}") from None


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build `Settings` from `environ` (default: `os.environ`), or raise `ConfigError`."""
    env = os.environ if environ is None else environ
    raw: dict[str, str] = {}
    for name in Settings.__struct_fields__:
        value = env.get(name.upper())
        if value is not None and value != "":
            raw[name] = value
    raw.pop("webhook_secrets", None)
    if "database_url" not in raw:
        raise ConfigError("DATABASE_URL: missing (a postgresql:// URL is required)")
    try:
        settings = msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        message = str(exc)
        match = _PATH_RE.search(message)
        variable = match.group(1).upper() if match else "settings"
        raise ConfigError(f"{variable}: {message.split(' - at ')[0]}") from None
    settings = msgspec.structs.replace(settings, webhook_secrets=_webhook_secrets(env))
    _check(settings)
    return settings


def load_settings_or_exit() -> Settings:
    """`load_settings()` for a process's entry point: a bad setting prints one line naming the
    variable on stderr (logging is not configured yet) and exits with status 2."""
    try:
        return load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)  # noqa: T201
        raise SystemExit(2) from None


_WEBHOOK_SECRET_PREFIX = "WEBHOOK_SECRET_"
_SOURCE_RE = re.compile(r"[a-z0-9][a-z0-9_]{0,31}")
MIN_WEBHOOK_SECRET_LENGTH = 16


def _webhook_secrets(env: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """`WEBHOOK_SECRET_STRIPE=a,b` -> {"stripe": ("a", "b")}: the enabled inbound sources."""
    found: dict[str, tuple[str, ...]] = {}
    for name, value in env.items():
        if not name.startswith(_WEBHOOK_SECRET_PREFIX) or not value.strip():
            continue
        source = name.removeprefix(_WEBHOOK_SECRET_PREFIX).lower()
        if not _SOURCE_RE.fullmatch(source):
            raise ConfigError(f"{name}: the source name must be letters, digits and _ (at most 32)")
        secrets = tuple(part.strip() for part in value.split(",") if part.strip())
        if any(len(secret) < MIN_WEBHOOK_SECRET_LENGTH for secret in secrets):
            raise ConfigError(f"{name}: each secret must be at least {MIN_WEBHOOK_SECRET_LENGTH} characters")
        found[source] = secrets
    return found
