"""Prometheus metrics: /metrics, its protection, the request metrics and the sampled gauges."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY, Histogram
from prometheus_client.parser import text_string_to_metric_families

from app.core.config import ConfigError, Settings, load_settings
from app.core.metrics import HTTP_REQUEST_DURATION, UNMATCHED_ROUTE, RequestMetrics, forget_dead_processes
from app.main import create_app
from app.observability.exporter import build_server
from app.serve import granian_logging_config, prepare_multiproc_dir
from tests.factories import Client

TOKEN = "metrics-token-0123456789abcdef"


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """{sorted label pairs: value} of the samples called `name` in an exposition."""
    found: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    return samples(text, name).get(tuple(sorted(labels.items())), 0.0)


async def scrape(client: Client, **headers: str) -> str:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


# ---- request metrics ----------------------------------------------------------------------------


async def test_requests_are_counted_by_route_template_method_and_status(client: Client) -> None:
    before = await scrape(client)
    user_route = "/users/{user_id}"  # the template, without the parameter type

    await client.get("/health/live")
    await client.get("/health/live")
    await client.get("/users/6a7c1f8e-0000-7000-8000-000000000001")  # 401: no token
    await client.get("/no/such/route")
    after = await scrape(client)

    def delta(route: str, status: str) -> float:
        labels = {"route": route, "method": "GET", "status": status}
        return value(after, "app_http_requests_total", **labels) - value(
            before, "app_http_requests_total", **labels
        )

    assert delta("/health/live", "200") == 2
    assert delta(user_route, "401") == 1
    assert delta(UNMATCHED_ROUTE, "404") == 1
    assert not any("6a7c1f8e" in line for line in after.splitlines()), "a raw path became a label"
    count = value(
        after, "app_http_request_duration_seconds_count", route="/health/live", method="GET", status="200"
    )
    assert count >= 2


async def test_unknown_methods_share_one_label(client: Client) -> None:
    await client.request("FOOBAR", "/health/live")
    await client.request("BARFOO", "/health/live")

    text = await scrape(client)

    methods = {dict(labels)["method"] for labels in samples(text, "app_http_requests_total")}
    assert "OTHER" in methods
    assert not {"FOOBAR", "BARFOO"} & methods


def test_batched_totals_equal_observing_each_request() -> None:
    """RequestMetrics adds to a histogram's sum and buckets at flush time: check it against
    prometheus_client's own observe() (the batching touches its internals)."""
    buckets = HTTP_REQUEST_DURATION._upper_bounds  # pyright: ignore[reportPrivateUsage]
    reference = Histogram(
        "test_reference_seconds", "x", ["route", "method", "status"], registry=None, buckets=buckets
    )
    durations = [0.0005, 0.002, 0.003, 0.07, 0.07, 1.5, 42.0]
    metrics = RequestMetrics()
    route = "/test/batched/{n:int}"
    for seconds in durations:
        metrics.observe(route, "GET", 200, seconds)
        reference.labels(route, "GET", "200").observe(seconds)
    metrics.flush()

    def histogram_samples(families: object) -> dict[tuple[str, str], float]:
        return {
            (sample.name.rsplit("_", 1)[-1], sample.labels.get("le", "")): sample.value
            for family in families  # pyright: ignore[reportGeneralTypeIssues]
            for sample in family.samples
            if sample.labels.get("route") == route and not sample.name.endswith("_created")
        }

    ours = histogram_samples(REGISTRY.collect())
    expected = histogram_samples(reference.collect())
    assert {key: v for key, v in ours.items() if key[0] in {"bucket", "count", "sum"}} == expected


# ---- sampled metrics ----------------------------------------------------------------------------


async def test_pool_jobs_and_cache_are_exported(client: Client) -> None:
    text = await scrape(client)

    assert value(text, "app_db_pool_connections", state="max") >= 1
    assert value(text, "app_db_pool_connections", state="open") >= 1
    assert "app_db_pool_saturation" in text
    for state in ("queued", "running", "succeeded", "dead"):
        assert ("state", state) in dict.fromkeys(pair for key in samples(text, "app_jobs") for pair in key)
    assert "app_cache_lookups_total" in text or "app_cache_lookups" in text
    assert "app_rate_limit_rejections_total" in text or "app_rate_limit_rejections" in text


# ---- protection ---------------------------------------------------------------------------------


@pytest.fixture
async def token_client(make_settings: Callable[..., Settings]) -> AsyncIterator[Client]:
    async with AsyncTestClient(create_app(make_settings(metrics_token=TOKEN))) as test_client:
        yield test_client


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token-0123456789", f"Basic {TOKEN}", TOKEN])
async def test_with_a_token_metrics_refuse_other_callers(
    token_client: Client, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    response = await token_client.get("/metrics", headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "app_http_requests_total" not in response.text


async def test_with_a_token_metrics_answer_its_bearer(token_client: Client) -> None:
    text = await scrape(token_client, Authorization=f"Bearer {TOKEN}")

    assert "app_http_requests_total" in text


def test_metrics_port_without_token_keeps_metrics_off_the_api_port(
    make_settings: Callable[..., Settings],
) -> None:
    def paths(app: Litestar) -> set[str]:
        return {route.path for route in app.routes}

    assert "/metrics" in paths(create_app(make_settings()))
    assert "/metrics" not in paths(create_app(make_settings(metrics_port="9464")))
    assert "/metrics" in paths(create_app(make_settings(metrics_port="9464", metrics_token=TOKEN)))
    assert "/metrics" not in paths(create_app(make_settings(metrics_enabled="false")))


PRODUCTION = {
    "ENVIRONMENT": "production",
    "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/app",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "SECRET_KEY": "a-production-secret-key-0123456789abcdef",
    "ENCRYPTION_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
}


def test_production_refuses_unprotected_metrics() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(PRODUCTION)
    assert str(caught.value).startswith("METRICS_TOKEN:")

    assert load_settings({**PRODUCTION, "METRICS_TOKEN": TOKEN}).metrics_token == TOKEN
    assert load_settings({**PRODUCTION, "METRICS_PORT": "9464"}).metrics_port == 9464
    assert load_settings({**PRODUCTION, "METRICS_ENABLED": "false"}).metrics_enabled is False


def test_short_metrics_token_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"DATABASE_URL": PRODUCTION["DATABASE_URL"], "METRICS_TOKEN": "short"})
    assert str(caught.value).startswith("METRICS_TOKEN:")


# ---- several processes --------------------------------------------------------------------------

CHILD = """
import sys
from app.core.metrics import HTTP_REQUESTS, JOBS, mark_process_dead
HTTP_REQUESTS.labels("/child", "GET", "200").inc(int(sys.argv[1]))
JOBS.labels("queued").set(int(sys.argv[1]))
"""


def run_child(directory: Path, count: int) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    subprocess.run([sys.executable, "-c", CHILD, str(count)], env=env, check=True, timeout=60)  # noqa: S603 - our interpreter


def test_multiprocess_counts_add_up_and_a_new_run_starts_from_zero(tmp_path: Path) -> None:
    base = tmp_path / "metrics"
    first = prepare_multiproc_dir(str(base), pid=os.getpid())
    run_child(first, 3)
    run_child(first, 4)
    (base / "999999999").mkdir()  # left by a server that is no longer running

    assert exported(first, "app_http_requests_total", route="/child", method="GET", status="200") == 7
    assert exported(first, "app_jobs", state="queued") == 4  # the most recent value wins

    again = prepare_multiproc_dir(str(base), pid=os.getpid())  # the next start of the server
    assert again == first
    assert list(again.iterdir()) == []
    assert not (base / "999999999").exists()
    run_child(again, 1)
    assert exported(again, "app_http_requests_total", route="/child", method="GET", status="200") == 1


def exported(directory: Path, name: str, **labels: str) -> float:
    """Scrape `directory` through the metrics port's server, as Prometheus would."""
    server = build_server("127.0.0.1", 0, TOKEN, path=str(directory))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=5)
        assert refused.value.code == 401
        refused.value.close()
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            text = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    return value(text, name, **labels)


def test_granian_logs_through_the_json_formatter() -> None:
    config = granian_logging_config()

    assert config["formatters"] == {"json": {"()": "app.core.logging.JsonFormatter"}}
    assert set(config["loggers"]) == {"_granian", "granian.access"}  # pyright: ignore[reportArgumentType]


def test_live_gauges_of_dead_workers_are_dropped_at_scrape(tmp_path: Path) -> None:
    """A worker killed without its shutdown leaves its live gauges behind; the scrape drops them."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for pid in (dead.pid, os.getpid()):
        (tmp_path / f"gauge_livesum_{pid}.db").write_bytes(b"")
        (tmp_path / f"counter_{pid}.db").write_bytes(b"")

    forget_dead_processes(str(tmp_path))

    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [f"counter_{dead.pid}.db", f"counter_{os.getpid()}.db", f"gauge_livesum_{os.getpid()}.db"]
    )
