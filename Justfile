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

# `just check` is what CI runs: this plus the SQL and migration linters.
# Ruff, ruff format --check, pyright, pytest (pytest arguments pass through).
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

# Write docs/sql/QUERIES.md: every named query, its file and purpose, the endpoints that use it (a
# static scan of src/app), its generic EXPLAIN plan on DATABASE_URL (seed it first: `just seed`)
# and the indexes the plan uses. Nothing is executed: plans only, in a rolled-back transaction.
sql-report *args:
    uv run python -m app.sql_report {{args}}

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

# The soak (tests/soak, docs/RELIABILITY.md "Load"): `python -m app.serve` with two workers and the job
# worker under a fixed rate of mixed reads and writes; zero 5xx, a p99 bound, flat worker memory, no
# connection leak, nothing lost. Default 5 minutes at 200 requests/s; CI runs 30 s at 100/s within
# `just check`. Prints its report and writes it to .data/soak-report.json.
soak seconds="300" rate="200" p99_ms="250":
    SOAK_SECONDS={{seconds}} SOAK_RATE={{rate}} SOAK_P99_MS={{p99_ms}} uv run pytest tests/soak -s -p no:cacheprovider

# Grant or revoke platform admin (the /admin routes): `just admin grant someone@example.com`.
admin action email:
    uv run python -m app.admin.cli {{action}} {{email}}

# The background worker: runs queued jobs (inbound webhook events, outbound deliveries, email).
worker:
    uv run python -m app.worker

# Arguments pass through to pytest, e.g. `just check -x tests/items`.
# Everything CI runs (.ci/run): ruff, format check, pyright, sql-lint, migration-lint, pytest.
check *pytest_args: lint typecheck sql-lint migration-lint
    uv run pytest {{pytest_args}}

# The landed 0004_events.sql is in .sqlfluffignore and linted on its own with .sqlfluff-landed on
# top (LT02 only warns there: one wrapped line, and landed migrations are never edited).
# sqlfluff over sql/ and migrations/ (.sqlfluff; docs/sql/LINTING.md); `just sql-fix` rewrites.
sql-lint:
    uv run sqlfluff lint sql migrations
    uv run sqlfluff lint --disregard-sqlfluffignores --config .sqlfluff-landed migrations/0004_events.sql

# Apply sqlfluff's fixes to sql/ (never to migrations/: a landed migration is never edited).
sql-fix:
    uv run sqlfluff fix sql

# squawk rules left out per kind of migration file (squawk's config has no per-file rules and
# `--exclude` replaces its list); each exclusion is justified in docs/sql/LINTING.md.
squawk_off := "require-statement-timeout"
squawk_rollback_off := squawk_off + ",ban-drop-table,ban-drop-column,ban-drop-function,ban-drop-extension"
squawk_landed_off := squawk_off + ",require-lock-timeout,prefer-bigint-over-int,prefer-bigint-over-smallint"
squawk_landed_rollback_off := squawk_rollback_off + ",require-lock-timeout"

# yoyo runs a migration in a transaction unless its header says `-- transactional: false`;
# squawk is told which (.squawk.toml: PostgreSQL version).
# squawk over migrations/: locking ALTERs, non-concurrent index builds, table rewrites, ...
migration-lint:
    #!/usr/bin/env bash
    set -euo pipefail
    squawk() {  # squawk EXCLUDED_RULES FILE...: one run per transaction mode; none with no files
        local off=$1 tx=() notx=() f; shift
        for f in "$@"; do
            if grep -qiE '^--[[:space:]]*transactional:[[:space:]]*false' "$f"; then notx+=("$f"); else tx+=("$f"); fi
        done
        if (( ${#tx[@]} )); then uv run squawk --assume-in-transaction --exclude="$off" "${tx[@]}" || failed=1; fi
        if (( ${#notx[@]} )); then uv run squawk --no-assume-in-transaction --exclude="$off" "${notx[@]}" || failed=1; fi
    }
    failed=0  # every pass runs, so one run shows every finding
    landed='^migrations/000[1-6]_'  # on main before the linter existed; never edited
    forward=() rollback=() landed_forward=() landed_rollback=()
    for f in migrations/*.sql; do
        if [[ $f =~ $landed ]]; then
            if [[ $f == *.rollback.sql ]]; then landed_rollback+=("$f"); else landed_forward+=("$f"); fi
        elif [[ $f == *.rollback.sql ]]; then rollback+=("$f")
        else forward+=("$f")
        fi
    done
    squawk "{{squawk_off}}" "${forward[@]}"
    squawk "{{squawk_rollback_off}}" "${rollback[@]}"
    squawk "{{squawk_landed_off}}" "${landed_forward[@]}"
    squawk "{{squawk_landed_rollback_off}}" "${landed_rollback[@]}"
    if (( failed )); then echo "migration-lint: squawk found problems (see above)" >&2; exit 1; fi
    echo "migration-lint: ${#forward[@]} new forward, ${#rollback[@]} new rollback and $(( ${#landed_forward[@]} + ${#landed_rollback[@]} )) landed files clean"
