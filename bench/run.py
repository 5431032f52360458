"""`just bench` (full) and `just bench quick`: the service against its baselines, side by side.

One run, on one machine, against one freshly seeded database:

1. create the database `app_bench` on the local PostgreSQL, migrate it and seed it
   (`python -m app.seed`, one large org for deep pages);
2. serve, one at a time and each under granian with one worker pinned to CPU 0: the service
   (`bench.service:app`, production settings, every middleware on, Sentry on with a discarding
   transport), the bare floor (`bench.baselines.floor:app`) and the ORM stack
   (`bench.baselines.orm:app`);
3. drive each with wrk (C, pinned to CPU 1), and the database alone with pgbench, in rounds:
   every round runs every scenario once after a warm-up, in the same order, so slow drifts of a
   shared machine hit all scenarios alike; medians over rounds are reported;
4. write bench/results/<timestamp>.json and latest.json, print a markdown table, and (full
   mode) measure latency at a constant arrival rate of half the maximum (bench/openloop), and
   write docs/BENCHMARKS.md's results section and a PNG chart.

Any non-2xx answer or socket error marks the run failed (exit status 1).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
LUA = ROOT / "bench" / "wrk" / "request.lua"
ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
DATABASE = "app_bench"
PORT = 8111


@dataclass(frozen=True)
class Mode:
    duration: float  # seconds per measured run
    warmup: float  # seconds of warm-up per server and scenario in the first round
    rounds: int
    connections: int
    orgs: int
    items_per_org: int
    big_org_items: int  # the org whose deep pages are measured
    deep_page: int
    open_loop: bool  # measure latency at half the maximum rate (bench/openloop, needs a C compiler)
    warm_each: bool  # warm up every scenario in round 1 (else only each server's first)


MODES = {
    "quick": Mode(
        duration=1,
        warmup=1,
        rounds=2,
        connections=32,
        orgs=10,
        items_per_org=500,
        big_org_items=21_000,
        deep_page=1_000,
        open_loop=False,
        warm_each=False,
    ),
    "full": Mode(
        duration=10,
        warmup=3,
        rounds=3,
        connections=64,
        orgs=100,
        items_per_org=2_000,
        big_org_items=25_000,
        deep_page=1_000,
        open_loop=True,
        warm_each=True,
    ),
}
PAGE = 20


# ---- the machine -------------------------------------------------------------------------------


def _run(*command: str, **kwargs: Any) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs).stdout.strip()


def _version(*command: str, field: str | None = None) -> str:
    """The first line a command prints (or the value of `field:` in its output)."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = (done.stdout + done.stderr).splitlines()
    if field is not None:
        return next(
            (line.split(":", 1)[1].strip() for line in lines if line.startswith(f"{field}:")), "unknown"
        )
    return lines[0].strip() if lines else "unknown"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gib = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        memory_gib = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    from importlib.metadata import version

    packages = {
        name: version(name) for name in ("litestar", "msgspec", "asyncpg", "granian", "redis", "sentry-sdk")
    }
    for name in ("fastapi", "sqlalchemy", "pydantic"):
        with contextlib.suppress(Exception):
            packages[name] = version(name)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_gib, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgres": _version(
            "psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "SHOW server_version", "postgres"
        ),
        "redis": _version("redis-cli", "-u", REDIS_URL, "INFO", "server", field="redis_version"),
        "wrk": _version("wrk", "-v"),
        "cc": _version(shutil.which("cc") or "gcc", "--version"),
        "pgbench": _version("pgbench", "--version"),
        "packages": packages,
        "server_cpus": SERVER_CPUS,
        "load_cpus": LOAD_CPUS,
    }


CORES = os.cpu_count() or 1
SERVER_CPUS = "0" if CORES >= 2 else ""
LOAD_CPUS = ",".join(str(c) for c in range(1, CORES)) if CORES >= 2 else ""


def _pinned(cpus: str, command: list[str]) -> list[str]:
    return ["taskset", "-c", cpus, *command] if cpus and shutil.which("taskset") else command


# ---- database and data -------------------------------------------------------------------------


def database_url() -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + DATABASE


def prepare_database(mode: Mode, workdir: Path) -> dict[str, Any]:
    """A fresh, migrated, seeded database; returns the seed's logins, keys and ids."""
    _run("psql", ADMIN_URL, "-qc", f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    _run("psql", ADMIN_URL, "-qc", f"CREATE DATABASE {DATABASE}")
    env = {**os.environ, "DATABASE_URL": database_url()}
    subprocess.run([sys.executable, "-m", "app.migrate", "up"], check=True, env=env, cwd=ROOT)
    seed_json = workdir / "seed.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "app.seed",
            "--orgs",
            str(mode.orgs),
            "--items-per-org",
            str(mode.items_per_org),
            "--big-org-items",
            str(mode.big_org_items),
            "--json",
            str(seed_json),
            "--json-orgs",
            "10",
            "--json-ids",
            "50",
        ],
        check=True,
        env=env,
        cwd=ROOT,
    )
    return json.loads(seed_json.read_text())


def deep_cursor(org_id: str, page: int) -> str:
    """The cursor of list page `page` (newest first) of `org_id`, as the service would issue it."""
    from app.core.pagination import encode_cursor
    from app.items.structs import ItemCursor

    row = _run(
        "psql",
        database_url(),
        "-Atc",
        "SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') || ' ' || id"
        f" FROM items WHERE org_id = '{org_id}' AND deleted_at IS NULL"
        f" ORDER BY created_at DESC, id DESC OFFSET {page * PAGE - 1} LIMIT 1",
    )
    created_at, item_id = row.split()
    return encode_cursor(ItemCursor(s="-created_at", i=UUID(item_id), t=datetime.fromisoformat(created_at)))


# ---- servers -----------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    module: str
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = _pinned(
            SERVER_CPUS,
            [
                sys.executable,
                "-m",
                "granian",
                "--interface",
                "asgi",
                "--loop",
                "uvloop",
                "--no-ws",
                "--workers",
                "1",
                "--host",
                "127.0.0.1",
                "--port",
                str(PORT),
                self.module,
            ],
        )
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.log}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{PORT}/__ready__", timeout=1)
            except urllib.error.HTTPError:
                return  # any HTTP answer (a 404 here) means it is serving
            except OSError:
                time.sleep(0.1)
                continue
            return
        raise RuntimeError(f"{self.name} did not start; see {self.log}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        self.start()
        try:
            yield
        finally:
            self.stop()


# ---- load --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    server: str  # "service", "floor", "orm" or "unprotected" (the service, limits and metrics off)
    paths: list[str]
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=lambda: {})
    body: str = ""
    signed_events: bool = False  # POST a freshly signed webhook event, a new id per request


WEBHOOK_SOURCE = "bench"
WEBHOOK_SECRET = "bench-webhook-secret-0123456789"
EVENTS_PER_SECOND = 20_000  # more than any run sends, so no event is sent twice


def signed_events(path: str, count: int) -> Path:
    """`count` webhook events with their own ids, signed now (the server accepts 5 minutes)."""
    from app.webhooks.signing import signature_header

    now = int(time.time())
    run = secrets.token_hex(4)
    with tempfile.NamedTemporaryFile("w", prefix="bench-events-", suffix=".tsv", delete=False) as lines:
        out = Path(lines.name)
        for n in range(count):
            body = json.dumps({"id": f"evt_{run}_{n}", "type": "bench.ping", "data": {"n": n}})
            lines.write(f"{path}\t{signature_header([WEBHOOK_SECRET], now, body.encode())}\t{body}\n")
    return out


def wrk(scenario: Scenario, duration: float, connections: int) -> dict[str, Any]:
    env = {
        **os.environ,
        "BENCH_METHOD": scenario.method,
        "BENCH_PATHS": "|".join(scenario.paths),
        "BENCH_HEADERS": "|".join(f"{k}: {v}" for k, v in scenario.headers.items()),
        "BENCH_BODY": scenario.body,
    }
    events = (
        signed_events(scenario.paths[0], int(duration * EVENTS_PER_SECOND) + 1_000)
        if scenario.signed_events
        else None
    )
    if events is not None:
        env["BENCH_FILE"] = str(events)
    command = _pinned(
        LOAD_CPUS,
        [
            "wrk",
            "-t",
            "1",
            "-c",
            str(connections),
            "-d",
            f"{max(1, round(duration))}s",
            "--timeout",
            "5s",
            "-s",
            str(LUA),
            f"http://127.0.0.1:{PORT}",
        ],
    )
    try:
        out = _run(*command, env=env)
    finally:
        if events is not None:
            events.unlink()
    line = next(line for line in reversed(out.splitlines()) if line.startswith("{"))
    raw = json.loads(line)
    seconds = raw["duration_us"] / 1e6
    lat = raw["latency_us"]
    errors = sum(raw["errors"].values())
    return {
        "rps": raw["requests"] / seconds,
        "p50_ms": lat["p50"] / 1000,
        "p99_ms": lat["p99"] / 1000,
        "p999_ms": lat["p999"] / 1000,
        "errors": errors,
        "requests": raw["requests"],
    }


def pgbench(org_id: str, item_id: str, duration: float, connections: int, workdir: Path) -> dict[str, Any]:
    """PostgreSQL's own ceiling for the same single-row SELECT, with prepared statements."""
    script = workdir / "get_item.sql"
    sql = (ROOT / "sql" / "items" / "get_item.sql").read_text()
    statement = " ".join(line for line in sql.splitlines() if not line.startswith("--")).strip().rstrip(";")
    statement = statement.replace(":org_id", f"'{org_id}'").replace(":id", f"'{item_id}'")
    script.write_text(statement + ";\n")
    command = _pinned(
        LOAD_CPUS,
        [
            "pgbench",
            "-n",
            "-M",
            "prepared",
            "-c",
            str(connections),
            "-j",
            "1",
            "-T",
            str(max(1, round(duration))),
            "-f",
            str(script),
            "-r",
            database_url(),
        ],
    )
    out = _run(*command)
    tps = next(line for line in out.splitlines() if line.startswith("tps ="))
    latency = next(line for line in out.splitlines() if line.startswith("latency average"))
    failed = next((line for line in out.splitlines() if line.startswith("number of failed")), "0")
    return {
        "rps": float(tps.split("=")[1].split()[0]),
        "p50_ms": None,
        "p99_ms": None,
        "p999_ms": None,
        "mean_ms": float(latency.split("=")[1].split()[0]),
        "errors": int(failed.split(":")[1].split()[0]) if ":" in failed else 0,
    }


OPENLOOP_SOURCE = ROOT / "bench" / "openloop" / "openloop.c"


def build_openloop(workdir: Path) -> Path | None:
    """Compile the constant-arrival client (bench/openloop/openloop.c) with the system's C compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    binary = workdir / "openloop"
    _run(compiler, "-O2", "-o", str(binary), str(OPENLOOP_SOURCE))
    return binary


def open_loop(binary: Path, scenario: Scenario, rate: float, duration: float) -> dict[str, Any]:
    """Latency at a constant arrival rate, without coordinated omission (bench/openloop/openloop.c).

    wrk is closed-loop: a slow response delays the next request and hides the stall it caused.
    Here requests are due on a fixed (jittered) schedule whatever the server does, and each
    latency counts from the moment its request was due.
    """
    header = "\r\n".join(f"{name}: {value}" for name, value in scenario.headers.items())
    command = [
        str(binary),
        "127.0.0.1",
        str(PORT),
        f"{rate:.1f}",
        str(max(1, round(duration))),
        "128",
        header,
        *scenario.paths,
    ]
    raw = json.loads(_run(*_pinned(LOAD_CPUS, command)).splitlines()[-1])
    lat = raw["latency_us"]
    p50, p99 = lat["p50"] / 1000, lat["p99"] / 1000
    return {
        "target_rps": round(rate, 1),
        "achieved_rps": round(raw["completed"] / raw["seconds"], 1),
        "connections": 128,
        "p50_ms": round(p50, 3),
        "p99_ms": round(p99, 3),
        "p999_ms": round(lat["p999"] / 1000, 3),
        "p99_over_p50": round(p99 / p50, 2) if p50 else None,
        "late": raw["late"],
        "errors": raw["non_2xx"] + raw["errors"],
    }


# ---- the run -----------------------------------------------------------------------------------


def scenarios(seed: dict[str, Any], mode: Mode, jwt: str) -> list[Scenario]:
    big = seed["orgs"][0]
    small = seed["orgs"][1]
    key = {"X-API-Key": small["api_key"]}
    bearer = {"Authorization": f"Bearer {jwt}"}
    items = [f"/orgs/{small['id']}/items/{item_id}" for item_id in small["item_ids"]]
    deep = deep_cursor(big["id"], mode.deep_page)
    big_key = {"X-API-Key": big["api_key"]}
    item = json.dumps({"name": "Bench widget", "price": 1999, "currency": "EUR", "tags": ["bench"]})
    batch = json.dumps({"items": [{"name": f"Bench {i}", "price": i, "currency": "USD"} for i in range(100)]})
    return [
        Scenario("item_apikey", "service", items, headers=key),
        # The service's own framework cost: a route with no auth, no I/O, all middleware on.
        Scenario("health_live", "service", ["/health/live"]),
        Scenario("item_floor", "floor", items),
        Scenario("item_orm", "orm", items),
        Scenario("item_unprotected", "unprotected", items, headers=key),
        Scenario(
            "item_jwt", "service", [f"/orgs/{big['id']}/items/{i}" for i in big["item_ids"]], headers=bearer
        ),
        Scenario("users_me", "service", ["/users/me"], headers=bearer),
        Scenario("list_first_page", "service", [f"/orgs/{big['id']}/items?limit={PAGE}"], headers=big_key),
        Scenario(
            "list_deep_page",
            "service",
            [f"/orgs/{big['id']}/items?limit={PAGE}&cursor={deep}"],
            headers=big_key,
        ),
        Scenario(
            "list_filtered",
            "service",
            [f"/orgs/{big['id']}/items?limit={PAGE}&status=active&tag=sale"],
            headers=big_key,
        ),
        Scenario("activity", "service", [f"/users/me/activity?org_id={big['id']}"], headers=bearer),
        Scenario("post_item", "service", [f"/orgs/{small['id']}/items"], "POST", key, item),
        Scenario("post_batch_100", "service", [f"/orgs/{small['id']}/items:batch"], "POST", key, batch),
        # Signed inbound webhooks: verify, store once and queue a job, one statement each.
        Scenario("webhook_ingest", "service", [f"/webhooks/{WEBHOOK_SOURCE}"], "POST", signed_events=True),
    ]


def login(seed: dict[str, Any]) -> str:
    owner = seed["orgs"][0]["owner"]
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORT}/auth/login",
        data=json.dumps({"login": owner["email"], "password": owner["password"]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]["access_token"]


def server_env(workdir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": REDIS_URL,
        "ENVIRONMENT": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "ENCRYPTION_KEY": secrets.token_urlsafe(32),  # 32 bytes, required in production
        "SENTRY_DSN": "http://public@127.0.0.1:9/1",  # the discarding transport never sends
        "ACCESS_LOG": "true",
        # Rate limiting and metrics stay on, as in production: every request is checked against
        # its group's limit in Redis and counted. The limits are set above what the load reaches,
        # so the numbers show the cost of checking, not of refusing.
        "RATE_LIMIT_ENABLED": "true",
        **{f"RATE_LIMIT_{group}_REQUESTS": "1000000000" for group in ("AUTH", "READ", "WRITE", "WEBHOOKS")},
        "METRICS_ENABLED": "true",
        "METRICS_TOKEN": secrets.token_urlsafe(24),
        f"WEBHOOK_SECRET_{WEBHOOK_SOURCE.upper()}": WEBHOOK_SECRET,
        "LOG_LEVEL": "INFO",
        # Limits on (each request pays its check), set so high that no scenario is refused:
        # every scenario is one caller hammering one route.
        "RATE_LIMIT_READ_REQUESTS": "1000000000",
        "RATE_LIMIT_WRITE_REQUESTS": "1000000000",
        "RATE_LIMIT_AUTH_REQUESTS": "1000000000",
        "RATE_LIMIT_WEBHOOKS_REQUESTS": "1000000000",
        "PYTHONPATH": str(ROOT),
    }


def run(mode_name: str) -> int:
    mode = MODES[mode_name]
    if not shutil.which("wrk"):
        print("wrk is missing: `apt-get install wrk` (the bench recipe does this)", file=sys.stderr)
        return 2
    started = datetime.now(UTC)
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    print(f"bench {mode_name}: seeding {mode.orgs} orgs x {mode.items_per_org} items (+{mode.big_org_items})")
    seed = prepare_database(mode, workdir)
    _run("redis-cli", "-u", REDIS_URL, "FLUSHDB")
    env = server_env(workdir)
    servers = {
        "service": Server("service", "bench.service:app", env, workdir / "service.log"),
        "floor": Server("floor", "bench.baselines.floor:app", env, workdir / "floor.log"),
        "orm": Server("orm", "bench.baselines.orm:app", env, workdir / "orm.log"),
        # The same service with rate limits and metrics off: their cost, measured side by side.
        "unprotected": Server(
            "unprotected",
            "bench.service:app",
            {**env, "RATE_LIMIT_ENABLED": "false", "METRICS_ENABLED": "false"},
            workdir / "unprotected.log",
        ),
    }
    with servers["service"].running():
        jwt = login(seed)
    plan = scenarios(seed, mode, jwt)
    small = seed["orgs"][1]
    samples: dict[str, list[dict[str, Any]]] = {s.name: [] for s in plan}
    samples["pgbench"] = []
    for round_number in range(1, mode.rounds + 1):
        print(f"round {round_number}/{mode.rounds}")
        # The service and its unprotected copy run next to each other, in turn first: their
        # ratio must not depend on which one follows the heavy ORM baseline.
        pair = ["service", "unprotected"] if round_number % 2 else ["unprotected", "service"]
        for server_name in [*pair, "floor", "orm"]:
            with servers[server_name].running():
                for index, scenario in enumerate(s for s in plan if s.server == server_name):
                    if round_number == 1 and (mode.warm_each or index == 0):
                        wrk(scenario, mode.warmup, mode.connections)
                    result = wrk(scenario, mode.duration, mode.connections)
                    samples[scenario.name].append(result)
                    print(
                        f"  {scenario.name:18} {result['rps']:9.0f} rps  p99 {result['p99_ms']:7.2f} ms"
                        f"  errors {result['errors']}"
                    )
        result = pgbench(small["id"], small["item_ids"][0], mode.duration, 8, workdir)
        samples["pgbench"].append(result)
        print(f"  {'pgbench':18} {result['rps']:9.0f} tps")
    report = summarise(mode_name, mode, started, samples)
    binary = build_openloop(workdir) if mode.open_loop else None
    if binary is not None:
        item = next(s for s in plan if s.name == "item_apikey")
        rate = (report["scenarios"]["item_apikey"]["rps"] or 0) / 2
        with servers["service"].running():
            wrk(item, mode.warmup, mode.connections)
            report["latency_open_loop"] = {"item_apikey": open_loop(binary, item, rate, mode.duration * 2)}
        if report["latency_open_loop"]["item_apikey"]["errors"]:
            report["failed"].append("latency_open_loop")
        print(f"open loop at {rate:.0f} rps: {report['latency_open_loop']['item_apikey']}")
    write(report, mode_name)
    print(table(report))
    failed = report["failed"]
    if failed:
        print(f"FAILED: errors in {', '.join(failed)} (logs in {workdir})", file=sys.stderr)
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [run[key] for run in runs if run.get(key) is not None]
    return round(statistics.median(values), 3) if values else None


def summarise(
    mode_name: str, mode: Mode, started: datetime, samples: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    scenarios_out = {
        name: {
            "rps": _median(runs, "rps"),
            "p50_ms": _median(runs, "p50_ms"),
            "p99_ms": _median(runs, "p99_ms"),
            "p999_ms": _median(runs, "p999_ms"),
            "errors": sum(run["errors"] for run in runs),
            "runs": [round(run["rps"], 1) for run in runs],
        }
        for name, runs in samples.items()
    }
    baselines = {
        "pgbench": scenarios_out.pop("pgbench"),
        "floor": scenarios_out.pop("item_floor"),
        "orm": scenarios_out.pop("item_orm"),
        "unprotected": scenarios_out.pop("item_unprotected"),
    }
    mine = scenarios_out["item_apikey"]["rps"] or 0.0

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 3) if a and b else None

    return {
        "mode": mode_name,
        "started_at": started.isoformat(),
        "command": f"just bench{' quick' if mode_name == 'quick' else ''}",
        "settings": {
            "duration_s": mode.duration,
            "rounds": mode.rounds,
            "connections": mode.connections,
            "granian_workers": 1,
            "orgs": mode.orgs,
            "items_per_org": mode.items_per_org,
            "big_org_items": mode.big_org_items,
            "deep_page": mode.deep_page,
            "rate_limits": "on (checked on every request, limits above the load)",
            "metrics": "on",
        },
        "machine": machine(),
        "scenarios": scenarios_out,
        "baselines": baselines,
        "ratios": {
            "item_apikey_vs_floor": ratio(mine, baselines["floor"]["rps"]),
            "item_apikey_vs_orm": ratio(mine, baselines["orm"]["rps"]),
            "item_apikey_vs_unprotected": ratio(mine, baselines["unprotected"]["rps"]),
            "deep_page_vs_first_page": ratio(
                scenarios_out["list_deep_page"]["rps"], scenarios_out["list_first_page"]["rps"]
            ),
        },
        "failed": sorted(name for name, entry in {**scenarios_out, **baselines}.items() if entry["errors"]),
    }


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def table(report: dict[str, Any]) -> str:
    lines = [
        "| Scenario | req/s (median) | p50 ms | p99 ms | p99.9 ms | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, entry in {
        **report["scenarios"],
        **{f"baseline: {k}": v for k, v in report["baselines"].items()},
    }.items():
        lines.append(
            f"| {name} | {_fmt(entry['rps'], 0)} | {_fmt(entry['p50_ms'])} | {_fmt(entry['p99_ms'])} |"
            f" {_fmt(entry['p999_ms'])} | {entry['errors']} |"
        )
    open_loop = report.get("latency_open_loop", {}).get("item_apikey")
    if open_loop:
        lines += [
            "",
            "| Open loop: GET item (API key) | target req/s | achieved | p50 ms | p99 ms | p99.9 ms"
            " | p99 / p50 |",
            "|---|---:|---:|---:|---:|---:|---:|",
            f"| constant arrival, {open_loop['connections']} connections | {_fmt(open_loop['target_rps'], 0)}"
            f" | {_fmt(open_loop['achieved_rps'], 0)} | {_fmt(open_loop['p50_ms'])}"
            f" | {_fmt(open_loop['p99_ms'])}"
            f" | {_fmt(open_loop['p999_ms'])} | {_fmt(open_loop['p99_over_p50'])} (target <= 4) |",
        ]
    ratios = report["ratios"]
    lines += [
        "",
        "| Ratio | Value | Target |",
        "|---|---:|---:|",
        f"| GET item (API key) / bare floor | {_fmt(ratios['item_apikey_vs_floor'])} | >= 0.70 |",
        f"| GET item (API key) / FastAPI + SQLAlchemy ORM | {_fmt(ratios['item_apikey_vs_orm'])} | >= 3.00 |",
        "| GET item (API key), rate limits + metrics on / off"
        f" | {_fmt(ratios.get('item_apikey_vs_unprotected'))} | (their cost) |",
        f"| deep page (~{report['settings']['deep_page']}) / first page"
        f" | {_fmt(ratios['deep_page_vs_first_page'])} | >= 0.80 |",
    ]
    return "\n".join(lines)


def write(report: dict[str, Any], mode_name: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = report["started_at"].replace(":", "").replace("-", "").split(".")[0]
    text = json.dumps(report, indent=2) + "\n"
    (RESULTS / f"{stamp}-{mode_name}.json").write_text(text)
    (RESULTS / "latest.json").write_text(text)
    if mode_name == "full":
        from bench.report import write_docs

        write_docs(report, table(report))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description="Benchmark against baselines")
    parser.add_argument("mode", nargs="?", default="full", choices=sorted(MODES))
    args = parser.parse_args(argv)
    return run(args.mode)


if __name__ == "__main__":
    raise SystemExit(main())
