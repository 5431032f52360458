# Every task of the project. Run through uv so the project's environment is used:
#   uv run just <recipe>        (uv installs everything from pyproject.toml / uv.lock first)

set dotenv-load := true

# List the recipes.
default:
    @just --list

# Serve with auto-reload; with no DATABASE_URL / REDIS_URL, embedded PostgreSQL / Redis start.
dev:
    uv run python -m app.dev.server

# Serve production-like: N granian workers with uvloop, configured by the environment. app.serve
# prepares the workers' shared metrics directory (and METRICS_PORT), then becomes granian.
serve workers="2" host="0.0.0.0" port="8000":
    uv run python -m app.serve --interface asgi --loop uvloop --workers {{workers}} --host {{host}} --port {{port}} --no-ws app.main:app

# The full check run by CI: ruff, ruff format --check, pyright, pytest.
test *pytest_args: lint typecheck
    uv run pytest {{pytest_args}}

# pytest only (arguments pass through, e.g. `just pytest -k login -x`).
pytest *pytest_args:
    uv run pytest {{pytest_args}}

# Lint and check formatting (no changes).
lint:
    uv run ruff check .
    uv run ruff format --check .

# Format and apply safe lint fixes.
fmt:
    uv run ruff format .
    uv run ruff check --fix .

# Type-check (strict for src/).
typecheck:
    uv run pyright

# Apply pending migrations to DATABASE_URL.
migrate:
    uv run python -m app.migrate up

# Roll back the last migration (`just rollback --all` for every one).
rollback *args:
    uv run python -m app.migrate down {{args}}

# Show which migrations are applied.
migration-status:
    uv run python -m app.migrate status

# Create migrations/NNNN_NAME.sql and its rollback file.
new-migration NAME:
    uv run python -m app.migrate new {{NAME}}

# Fill DATABASE_URL with a realistic data set (default 100 orgs x 2,000 items; see `just seed --help`),
# e.g. `just seed --orgs 10 --items-per-org 500 --json seed.json`; `just seed 500`: 500 accounts only.
seed *args:
    uv run python -m app.seed {{args}}

# Benchmarks against the baselines, side by side (docs/BENCHMARKS.md): `just bench` (full, a few
# minutes; writes docs/BENCHMARKS.md and its chart) or `just bench quick` (under a minute).
bench mode="full":
    @command -v wrk >/dev/null || apt-get install -y wrk >/dev/null || sudo apt-get install -y wrk
    uv run python -m bench.run {{mode}}

# Profile one benchmark scenario with py-spy while wrk drives it (bench/profile.py): writes a
# speedscope file and the hottest functions to bench/results/profiles/.
bench-profile scenario="item_apikey" seconds="10":
    @command -v wrk >/dev/null || apt-get install -y wrk >/dev/null || sudo apt-get install -y wrk
    uv run python -m bench.profile {{scenario}} {{seconds}}

# Grant or revoke platform admin (the /admin routes): `just admin grant someone@example.com`.
admin action email:
    uv run python -m app.admin.cli {{action}} {{email}}

# The background worker: runs queued jobs (inbound webhook events, outbound deliveries, email).
worker:
    uv run python -m app.worker

# Everything CI checks.
check: test
