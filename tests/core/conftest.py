"""Fixtures for the cross-cutting tests: an app with extra routes that raise chosen exceptions.

The routes are registered on a separate app instance so the shared `app` of the other tests
keeps exactly the production route list (tests/test_authorization_matrix.py, OpenAPI tests).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, cast

import asyncpg
import pytest
from litestar import Litestar, get
from litestar.params import FromPath
from litestar.testing import AsyncTestClient
from litestar.types import HTTPReceiveMessage, Message

from app.core.access_log import access_log
from app.core.config import Settings
from app.core.exceptions import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ServiceUnavailableError,
    ValidationError,
)
from app.core.logging import JsonFormatter
from app.main import create_app

Client = AsyncTestClient[Litestar]
SECRET_DETAIL = "secret internals"

# name -> the exception the route `GET /test/raise/{name}` raises.
RAISES: dict[str, Callable[[], BaseException]] = {
    "runtime": lambda: RuntimeError(SECRET_DETAIL),
    "key": lambda: KeyError(SECRET_DETAIL),
    "unique": lambda: asyncpg.UniqueViolationError("duplicate key value violates unique constraint"),
    "repertoire": lambda: asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence"),
    "data": lambda: asyncpg.DataError("invalid input value"),
    "refused": lambda: ConnectionRefusedError(111, "Connection refused"),
    "cannot-connect": lambda: asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    "not-found": lambda: NotFoundError(),
    "conflict": lambda: ConflictError("Already there."),
    "forbidden": lambda: PermissionDeniedError(),
    "invalid-field": lambda: ValidationError.for_field("$.name", "Too long."),
    "unavailable": lambda: ServiceUnavailableError(),
}


@get("/test/raise/{name:str}", include_in_schema=False)
async def raise_named(name: FromPath[str]) -> None:
    """Raise the exception registered under `name` in RAISES."""
    raise RAISES[name]()


@pytest.fixture(scope="session")
def raising_app(make_settings: Callable[..., Settings]) -> Litestar:
    app = create_app(make_settings())
    app.register(raise_named)
    return app


@pytest.fixture(scope="session")
async def raising_client(raising_app: Litestar) -> AsyncIterator[Client]:
    async with AsyncTestClient(raising_app) as client:
        yield client


class JsonLines(logging.Handler):
    """Keeps every record it sees, formatted by the service's JsonFormatter."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def json_log() -> Iterator[JsonLines]:
    """JSON lines of the `app` loggers and of the access log at INFO, for one test.

    The test settings log at WARNING, so the `app` logger is lowered to INFO for the test and
    its records, and the access log's lines (written without `logging`), are kept here instead
    of reaching stdout.
    """
    handler = JsonLines()
    logger = logging.getLogger("app")
    saved = (logger.level, logger.propagate, access_log.sink)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(handler)
    access_log.sink = lambda line: handler.lines.append(line.decode().rstrip("\n"))
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        access_log.sink = saved[2]


class RawResponse:
    """What an ASGI app sent back for one request."""

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str) -> list[str]:
        key = name.lower().encode()
        return [value.decode("latin-1") for k, value in self.headers if k.lower() == key]

    def json(self) -> Any:
        return json.loads(self.body)


async def asgi_request(
    app: Litestar,
    method: str,
    path: str,
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
    chunks: list[bytes] | None = None,
) -> RawResponse:
    """Call `app` (whose lifespan is already running) with a hand-built HTTP scope.

    For what HTTP clients refuse to send: CR/LF in header values, bodies streamed in several
    chunks without a Content-Length.
    """
    pending: list[bytes] = list(chunks or [b""])
    sent: list[Message] = []
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver.local"), *(headers or [])],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver.local", 80),
        "state": {},
    }

    async def receive() -> HTTPReceiveMessage:
        if pending:
            body = pending.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(pending)}
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(cast("Any", scope), receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return RawResponse(start["status"], list(start.get("headers", [])), body)
