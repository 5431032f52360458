"""Settings read from environment variables and validated once at start-up.

Every field of `Settings` is read from the environment variable of the same name in upper case
(`database_url` <- `DATABASE_URL`). A missing or invalid value raises `ConfigError` whose message
is one line naming the variable and what is wrong with it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Annotated, Literal

import msgspec

__all__ = ["ConfigError", "Settings", "load_settings"]

Environment = Literal["development", "test", "production"]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
SampleRate = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]

# Only good enough for a laptop: production refuses to start with it.
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me-0123456789"
_PATH_RE = re.compile(r"`\$\.(\w+)`")


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

    argon2_time_cost: Annotated[int, msgspec.Meta(ge=1, le=10)] = 3
    argon2_memory_kib: Annotated[int, msgspec.Meta(ge=8_192, le=1_048_576)] = 65_536
    argon2_parallelism: Annotated[int, msgspec.Meta(ge=1, le=16)] = 1
    password_hash_concurrency: Annotated[int, msgspec.Meta(ge=1, le=64)] = 4

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
    if settings.is_production:
        if settings.secret_key == DEV_SECRET_KEY:
            raise ConfigError("SECRET_KEY: required in production (at least 32 characters)")
        if settings.redis_url is None:
            raise ConfigError("REDIS_URL: required in production")
        if settings.log_email_links:
            raise ConfigError("LOG_EMAIL_LINKS: must be off in production (links carry secrets)")


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build `Settings` from `environ` (default: `os.environ`), or raise `ConfigError`."""
    env = os.environ if environ is None else environ
    raw: dict[str, str] = {}
    for name in Settings.__struct_fields__:
        value = env.get(name.upper())
        if value is not None and value != "":
            raw[name] = value
    if "database_url" not in raw:
        raise ConfigError("DATABASE_URL: missing (a postgresql:// URL is required)")
    try:
        settings = msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        message = str(exc)
        match = _PATH_RE.search(message)
        variable = match.group(1).upper() if match else "settings"
        raise ConfigError(f"{variable}: {message.split(' - at ')[0]}") from None
    _check(settings)
    return settings
