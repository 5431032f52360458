"""`python -m app.serve [granian options]`: granian, with the metrics of all its workers in one place.

Each granian worker is a process of its own, so Prometheus counters kept in memory would each
count a share of the traffic. prometheus_client's multi-process mode keeps them in memory-mapped
files in PROMETHEUS_MULTIPROC_DIR instead, which must be set before any worker starts and must
not hold files of an earlier run (their counts would be added in). So this entry point, before
it becomes granian's main process (`exec`):

1. makes a fresh directory `<METRICS_MULTIPROC_DIR>/<its pid>` (the pid stays granian's: exec
   keeps it) and deletes the directories of servers that are no longer running;
2. sets PROMETHEUS_MULTIPROC_DIR to it, which the workers inherit;
3. with METRICS_PORT set, starts the metrics port (app.observability.exporter) as its child;
4. hands granian a logging configuration that writes its own lines as JSON too.

`just serve` and the Docker image use it. Plain `granian ... app.main:app` still works, with
each worker's metrics on its own (fine with one worker, `just dev`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from app.core.config import load_settings_or_exit
from app.core.processes import is_running

__all__ = ["DEFAULT_ARGS", "granian_logging_config", "main", "prepare_multiproc_dir"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # as app.core.metrics (not imported: no prometheus here)
DEFAULT_ARGS = ("--interface", "asgi", "--loop", "uvloop", "--no-ws", "app.main:app")


def prepare_multiproc_dir(base: str | None, pid: int | None = None) -> Path:
    """A fresh, empty metrics directory for the server whose main process is `pid` (this one)."""
    root = Path(base) if base else Path(tempfile.gettempdir()) / "app-metrics"
    root.mkdir(parents=True, exist_ok=True)
    pid = pid or os.getpid()
    for child in root.iterdir():
        stopped = child.name.isdigit() and int(child.name) != pid and not is_running(int(child.name))
        if stopped and child.is_dir():
            shutil.rmtree(child, ignore_errors=True)  # left by a server that has stopped
    run = root / str(pid)
    shutil.rmtree(run, ignore_errors=True)  # an earlier server that had this pid
    run.mkdir()
    return run


def granian_logging_config() -> dict[str, object]:
    """granian's own loggers, as one JSON object per line like everything else."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "app.core.logging.JsonFormatter"}},
        "handlers": {"console": handler},
        "loggers": {
            "_granian": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "granian.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv) or list(DEFAULT_ARGS)
    settings = load_settings_or_exit()
    run = prepare_multiproc_dir(settings.metrics_multiproc_dir)
    os.environ[MULTIPROC_ENV] = str(run)
    if "--log-config" not in args:
        log_config = run / "granian-logging.json"
        log_config.write_text(json.dumps(granian_logging_config()))
        args = ["--log-config", str(log_config), *args]
    if settings.metrics_port is not None:
        # Its parent becomes granian (exec keeps this pid); it exits when granian does.
        subprocess.Popen([sys.executable, "-m", "app.observability.exporter"])
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", "granian", *args])  # noqa: S606 - granian replaces us
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
