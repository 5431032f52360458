"""Settings: a bad or missing setting stops start-up with one clear line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from app.core.config import DEV_SECRET_KEY, ConfigError, Settings, load_settings

DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/app"
PRODUCTION = {
    "ENVIRONMENT": "production",
    "DATABASE_URL": DATABASE_URL,
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "SECRET_KEY": "a-production-secret-key-0123456789abcdef",
    "ENCRYPTION_KEY": "bWZhLWtleS1mb3ItdGhlLWNvbmZpZy10ZXN0cy0zMmI",  # 32 bytes, URL-safe base64
    "METRICS_TOKEN": "a-metrics-token-0123456789",  # or METRICS_PORT (tests/core/test_metrics.py)
}


def config_error(env: dict[str, str]) -> str:
    """The message of the ConfigError that `env` causes, checked to be a single line."""
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    message = str(caught.value)
    assert "\n" not in message
    assert "\r" not in message
    return message


def test_minimal_environment_loads_with_defaults() -> None:
    settings = load_settings({"DATABASE_URL": DATABASE_URL})

    assert isinstance(settings, Settings)
    assert settings.database_url == DATABASE_URL
    assert settings.environment == "development"
    assert settings.redis_url is None
    assert settings.access_log is True
    assert settings.log_email_links is False


def test_values_are_converted_from_strings() -> None:
    settings = load_settings(
        {
            "DATABASE_URL": DATABASE_URL,
            "DB_POOL_MAX_SIZE": "7",
            "SENTRY_TRACES_SAMPLE_RATE": "0.25",
            "ACCESS_LOG": "false",
        }
    )

    assert settings.db_pool_max_size == 7
    assert settings.sentry_traces_sample_rate == 0.25
    assert settings.access_log is False


def test_empty_values_count_as_unset() -> None:
    settings = load_settings({"DATABASE_URL": DATABASE_URL, "REDIS_URL": "", "SENTRY_DSN": ""})

    assert settings.redis_url is None
    assert settings.sentry_dsn is None


@pytest.mark.parametrize("env", [{}, {"DATABASE_URL": ""}, {"REDIS_URL": "redis://127.0.0.1:6379/0"}])
def test_missing_database_url_is_one_line_naming_it(env: dict[str, str]) -> None:
    message = config_error(env)

    assert message.startswith("DATABASE_URL:")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DB_POOL_MAX_SIZE", "abc"),
        ("DB_POOL_MAX_SIZE", "0"),
        ("SENTRY_TRACES_SAMPLE_RATE", "2"),
        ("SENTRY_TRACES_SAMPLE_RATE", "-0.1"),
        ("ENVIRONMENT", "staging"),
        ("ENVIRONMENT", "prod\nuction"),
        ("ACCESS_LOG", "maybe"),
        ("SECRET_KEY", "too-short"),
        ("DB_POOL_ACQUIRE_TIMEOUT", "0"),
    ],
)
def test_invalid_value_names_its_variable(variable: str, value: str) -> None:
    message = config_error({"DATABASE_URL": DATABASE_URL, variable: value})

    assert message.startswith(f"{variable}:"), message


@pytest.mark.parametrize(
    "url",
    ["mysql://root@127.0.0.1/app", "sqlite:///app.db", "127.0.0.1:5432/app", "postgresql+psycopg://x/y"],
)
def test_non_postgres_database_url_is_rejected(url: str) -> None:
    message = config_error({"DATABASE_URL": url})

    assert message.startswith("DATABASE_URL:")


@pytest.mark.parametrize("url", ["postgresql://u@h/db", "postgres://u@h/db"])
def test_postgres_urls_are_accepted(url: str) -> None:
    assert load_settings({"DATABASE_URL": url}).database_url == url


def test_non_redis_redis_url_is_rejected() -> None:
    message = config_error({"DATABASE_URL": DATABASE_URL, "REDIS_URL": "http://127.0.0.1:6379"})

    assert message.startswith("REDIS_URL:")


def test_pool_min_above_max_is_rejected() -> None:
    message = config_error({"DATABASE_URL": DATABASE_URL, "DB_POOL_MIN_SIZE": "5", "DB_POOL_MAX_SIZE": "4"})

    assert message.startswith("DB_POOL_MIN_SIZE:")


def test_complete_production_environment_loads() -> None:
    settings = load_settings(PRODUCTION)

    assert settings.is_production
    assert settings.secret_key == PRODUCTION["SECRET_KEY"]


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY"),  # unset: the development default applies
        ({"SECRET_KEY": DEV_SECRET_KEY}, "SECRET_KEY"),
        ({"REDIS_URL": ""}, "REDIS_URL"),
        ({"LOG_EMAIL_LINKS": "true"}, "LOG_EMAIL_LINKS"),
    ],
    ids=["secret-unset", "secret-default", "redis-unset", "email-links"],
)
def test_production_refuses_unsafe_settings(change: dict[str, str], variable: str) -> None:
    message = config_error({**PRODUCTION, **change})

    assert message.startswith(f"{variable}:"), message


def test_development_allows_what_production_refuses() -> None:
    settings = load_settings({"DATABASE_URL": DATABASE_URL, "LOG_EMAIL_LINKS": "true"})

    assert settings.secret_key == DEV_SECRET_KEY
    assert settings.log_email_links is True


def _without_settings() -> dict[str, str]:
    """os.environ without any variable the service reads, so the child sees only what we add."""
    names = {field.upper() for field in Settings.__struct_fields__}
    return {key: value for key, value in os.environ.items() if key not in names}


def _import_app(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import app.main as m; m.app"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("extra", "variable"),
    [({}, "DATABASE_URL"), ({"DATABASE_URL": DATABASE_URL, "DB_POOL_MAX_SIZE": "abc"}, "DB_POOL_MAX_SIZE")],
    ids=["missing-database-url", "invalid-pool-size"],
)
def test_start_up_with_bad_settings_exits_2_with_one_line(extra: dict[str, str], variable: str) -> None:
    result = _import_app({**_without_settings(), **extra})

    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert "Traceback" not in result.stderr


# ---- inbound webhook sources -------------------------------------------------------------------


def test_webhook_sources_come_from_their_secret_variables() -> None:
    settings = load_settings(
        {
            "DATABASE_URL": DATABASE_URL,
            "WEBHOOK_SECRET_STRIPE": "whsec_old_0123456789, whsec_new_0123456789",
            "WEBHOOK_SECRET_GIT_HUB": "github-secret-0123456789",
            "WEBHOOK_SECRET_EMPTY": "",
        }
    )
    assert settings.webhook_secrets == {
        "stripe": ("whsec_old_0123456789", "whsec_new_0123456789"),
        "git_hub": ("github-secret-0123456789",),
    }


def test_no_webhook_source_without_a_variable() -> None:
    assert load_settings({"DATABASE_URL": DATABASE_URL}).webhook_secrets == {}


def test_a_short_webhook_secret_is_refused() -> None:
    message = config_error({"DATABASE_URL": DATABASE_URL, "WEBHOOK_SECRET_ACME": "short"})
    assert message.startswith("WEBHOOK_SECRET_ACME:")
    assert "16" in message


def test_webhook_secrets_is_not_itself_a_variable() -> None:
    """WEBHOOK_SECRETS (no source) is not a source named "s" nor the settings field."""
    settings = load_settings({"DATABASE_URL": DATABASE_URL, "WEBHOOK_SECRETS": "x" * 20})
    assert settings.webhook_secrets == {}


def test_production_refuses_loopback_webhooks() -> None:
    message = config_error({**PRODUCTION, "WEBHOOK_ALLOW_LOOPBACK": "true"})
    assert message.startswith("WEBHOOK_ALLOW_LOOPBACK:")
