"""The metrics port (METRICS_PORT): a tiny HTTP server beside the granian workers.

Started by `python -m app.serve` (see there) as a child of the server's main process. It reads
the metric files of every worker in PROMETHEUS_MULTIPROC_DIR at each scrape, so one port shows
the whole server, and only one process binds it however many workers run. It answers any path
(`/metrics` by convention), requires `Authorization: Bearer <METRICS_TOKEN>` when that is set,
and exits when its parent (granian's main process) is gone.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, CollectorRegistry, make_wsgi_app  # pyright: ignore[reportUnknownVariableType]
from prometheus_client.multiprocess import MultiProcessCollector

from app.core.config import load_settings_or_exit
from app.core.logging import configure_logging, get_logger
from app.core.metrics import multiprocess_dir
from app.observability.controller import metrics_authorized

__all__ = ["build_server", "main", "serve_in_thread"]

logger = get_logger("app.metrics_exporter")
StartResponse = Callable[..., Any]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Scrapes every few seconds are not worth a log line each."""


def build_server(host: str, port: int, token: str | None, *, path: str | None = None) -> WSGIServer:
    """A metrics server for the files in `path` (multi-process) or this process's own registry."""
    registry = REGISTRY
    if path is not None:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=path)
    exposition: Callable[..., Iterable[bytes]] = make_wsgi_app(registry)  # pyright: ignore[reportUnknownVariableType]

    def guarded(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not metrics_authorized(environ.get("HTTP_AUTHORIZATION"), token):
            start_response(
                "401 Unauthorized", [("WWW-Authenticate", "Bearer"), ("Content-Type", "text/plain")]
            )
            return [b"a valid metrics token is required\n"]
        return exposition(environ, start_response)

    return make_server(host, port, guarded, handler_class=_QuietHandler)


def serve_in_thread(host: str, port: int, token: str | None, *, path: str | None = None) -> WSGIServer:
    """Start `build_server` in a daemon thread (the job worker's own port uses this too)."""
    server = build_server(host, port, token, path=path)
    threading.Thread(target=server.serve_forever, name="metrics port", daemon=True).start()
    return server


def main() -> int:
    settings = load_settings_or_exit()
    configure_logging(settings.log_level)
    path = multiprocess_dir()
    if settings.metrics_port is None or path is None:
        logger.error("metrics exporter needs METRICS_PORT and PROMETHEUS_MULTIPROC_DIR")
        return 2
    parent = os.getppid()
    server = serve_in_thread(settings.metrics_host, settings.metrics_port, settings.metrics_token, path=path)
    logger.info("metrics port open", extra={"host": settings.metrics_host, "port": settings.metrics_port})
    while os.getppid() == parent:  # granian's main process still runs
        time.sleep(1.0)
    server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
