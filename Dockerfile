# The API image: Python 3.11, dependencies from uv.lock (no dev tools), served by granian.
# On start it applies pending migrations (yoyo takes a lock, so several replicas starting at once
# are safe), then serves. Configuration comes from the environment; see .env.example.

FROM python:3.11-slim

# uv from its official image, pinned to a minor version.
COPY --from=ghcr.io/astral-sh/uv:0.13 /uv /uvx /bin/

ENV PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    PATH="/app/.venv/bin:$PATH"

WORKDIR /app

# Dependencies first, in their own layer, so code changes do not reinstall them.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

# The project itself. It is installed in editable mode (uv's default) on purpose: the app finds
# sql/ and migrations/ relative to its source files, so they must stay next to src/.
# README.md is needed because pyproject.toml names it as the package readme.
COPY README.md ./
COPY src ./src
COPY sql ./sql
COPY migrations ./migrations
RUN uv sync --frozen --no-dev

RUN useradd --system --uid 10001 --no-create-home app
USER app

EXPOSE 8000

# app.serve becomes granian's main process (exec) after preparing the shared metrics directory,
# so /metrics sums every worker (docs/OPERATIONS.md, "Metrics").
CMD ["sh", "-c", "python -m app.migrate up && exec python -m app.serve --interface asgi --loop uvloop --workers 2 --host 0.0.0.0 --port 8000 --no-ws app.main:app"]
