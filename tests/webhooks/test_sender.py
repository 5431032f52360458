"""WebhookSender against real HTTP servers on 127.0.0.1: delivery, refusals, failures, limits."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import msgspec
import pytest

from app.webhooks.sender import DeliveryResult, PublicOnlyNetworkBackend, PublicOnlyTransport, WebhookSender
from app.webhooks.signing import SIGNATURE_HEADER, signature_header, verify_signature
from app.webhooks.ssrf import UnsafeUrlError

BODY = b'{"id":"evt_1","type":"item.created","data":{"name":"caf\xc3\xa9"}}'
SECRET = "whsec_test_secret"


class Received(msgspec.Struct, frozen=True):
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A minimal HTTP/1.1 server: records each request, then answers as configured.

    `mode` "answer" replies, "hang" reads and never replies, "close" hangs up without a reply.
    """

    def __init__(
        self, *, status: int = 200, body: bytes = b"ok", headers: str = "", mode: str = "answer"
    ) -> None:
        self.status, self.body, self.headers, self.mode = status, body, headers, mode
        self.connections = 0
        self.requests: list[Received] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> Receiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            request_line, *lines = head.split("\r\n")[:-2]
            headers: dict[str, str] = {}
            for line in lines:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            method, target, _ = request_line.split(" ")
            self.requests.append(Received(method=method, target=target, headers=headers, body=body))
            if self.mode == "hang":
                await reader.read()  # until the client gives up and closes
                return
            if self.mode == "answer":
                writer.write(
                    f"HTTP/1.1 {self.status} Whatever\r\nContent-Length: {len(self.body)}\r\n"
                    f"Content-Type: text/plain\r\nConnection: close\r\n{self.headers}\r\n".encode()
                    + self.body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


StartReceiver = Callable[..., Awaitable[Receiver]]


@pytest.fixture
async def receiver() -> AsyncIterator[StartReceiver]:
    started: list[Receiver] = []

    async def start(**options: Any) -> Receiver:
        server = await Receiver(**options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.close()


@pytest.fixture
async def sender() -> AsyncIterator[WebhookSender]:
    sender = WebhookSender(allow_loopback=True, timeout_seconds=2.0)
    yield sender
    await sender.aclose()


@pytest.fixture
async def strict_sender() -> AsyncIterator[WebhookSender]:
    sender = WebhookSender(allow_loopback=False, timeout_seconds=2.0)
    yield sender
    await sender.aclose()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_delivers_the_exact_body_and_headers(sender: WebhookSender, receiver: StartReceiver) -> None:
    server = await receiver(body=b'{"received":true}')
    header = signature_header([SECRET], int(time.time()), BODY)
    result = await sender.post(
        server.url("/hook?tenant=a"), BODY, {SIGNATURE_HEADER: header, "Webhook-Id": "evt_1"}
    )
    assert result == DeliveryResult(
        status_code=200, latency_ms=result.latency_ms, error=None, response_excerpt='{"received":true}'
    )
    assert result.ok
    assert 0 < result.latency_ms < 2000
    [request] = server.requests
    assert (request.method, request.target, request.body) == ("POST", "/hook?tenant=a", BODY)
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "app-webhooks/1"
    assert request.headers["content-length"] == str(len(BODY))
    assert request.headers["webhook-id"] == "evt_1"
    assert request.headers["host"] == f"127.0.0.1:{server.port}"
    assert "authorization" not in request.headers
    verify_signature(request.headers["webhook-signature"], request.body, [SECRET], now=time.time())


async def test_options_and_header_overrides(receiver: StartReceiver) -> None:
    server = await receiver()
    sender = WebhookSender(allow_loopback=True, user_agent="custom/2")
    try:
        result = await sender.post(server.url(), b"[]", {"Content-Type": "application/cloudevents+json"})
    finally:
        await sender.aclose()
    assert result.ok
    assert server.requests[0].headers["user-agent"] == "custom/2"
    assert server.requests[0].headers["content-type"] == "application/cloudevents+json"


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
async def test_every_2xx_is_ok(sender: WebhookSender, receiver: StartReceiver, status: int) -> None:
    server = await receiver(status=status, body=b"")
    result = await sender.post(server.url(), BODY, {})
    assert (result.ok, result.status_code, result.error) == (True, status, None)


async def test_loopback_is_refused_before_connecting(
    strict_sender: WebhookSender, receiver: StartReceiver
) -> None:
    server = await receiver()
    for url in (
        server.url(),
        f"http://localhost:{server.port}/hook",
        f"http://[::ffff:127.0.0.1]:{server.port}/hook",
        f"http://2130706433:{server.port}/hook",
    ):
        result = await strict_sender.post(url, BODY, {})
        assert not result.ok
        assert result.status_code is None
        assert result.error is not None
        assert result.error.startswith("refused: ")
    assert server.connections == 0


async def test_urls_that_are_not_acceptable_are_refused(
    sender: WebhookSender, receiver: StartReceiver
) -> None:
    server = await receiver()
    for url in (
        f"http://user:pw@127.0.0.1:{server.port}/",
        f"ftp://127.0.0.1:{server.port}/",
        "not a url",
        f"http://10.0.0.1:{server.port}/",
    ):
        result = await sender.post(url, BODY, {})
        assert result.error is not None
        assert result.error.startswith("refused: ")
    assert server.connections == 0


async def test_the_connect_time_check_refuses_names_resolving_to_loopback(receiver: StartReceiver) -> None:
    """The transport resolves and checks by itself: a URL that passed a syntax check earlier
    (a rebinding name) is still refused when the connection is made."""
    server = await receiver()
    async with httpx.AsyncClient(transport=PublicOnlyTransport(allow_loopback=False)) as client:
        with pytest.raises(UnsafeUrlError, match="resolves to a private"):
            await client.post(f"http://localhost:{server.port}/hook", content=BODY)
        with pytest.raises(UnsafeUrlError):
            await client.post(server.url(), content=BODY)
    assert server.connections == 0
    backend = PublicOnlyNetworkBackend(allow_loopback=False)
    with pytest.raises(UnsafeUrlError):
        await backend.connect_tcp("localhost", server.port)
    assert server.connections == 0


async def test_the_connect_time_check_lets_loopback_through_when_allowed(receiver: StartReceiver) -> None:
    # localhost often resolves to ::1 first; nothing listens there, so the next address is tried.
    server = await receiver()
    async with httpx.AsyncClient(transport=PublicOnlyTransport(allow_loopback=True)) as client:
        response = await client.post(f"http://localhost:{server.port}/hook", content=BODY)
    assert response.status_code == 200
    assert server.requests[0].body == BODY


async def test_server_error_is_a_failure(sender: WebhookSender, receiver: StartReceiver) -> None:
    server = await receiver(status=500, body=b"database on fire")
    result = await sender.post(server.url(), BODY, {})
    assert (result.ok, result.status_code, result.error) == (False, 500, "HTTP 500")
    assert result.response_excerpt == "database on fire"


async def test_redirects_are_not_followed(sender: WebhookSender, receiver: StartReceiver) -> None:
    target = await receiver()
    server = await receiver(status=302, headers=f"Location: {target.url('/elsewhere')}\r\n", body=b"")
    result = await sender.post(server.url(), BODY, {})
    assert (result.ok, result.status_code, result.error) == (False, 302, "redirect not followed")
    assert len(server.requests) == 1
    assert target.connections == 0


async def test_a_server_that_never_answers_times_out(receiver: StartReceiver) -> None:
    server = await receiver(mode="hang")
    sender = WebhookSender(allow_loopback=True, timeout_seconds=0.3)
    started = time.perf_counter()
    try:
        result = await sender.post(server.url(), BODY, {})
    finally:
        await sender.aclose()
    assert (result.ok, result.status_code, result.error) == (False, None, "timeout")
    assert time.perf_counter() - started < 1.5
    assert 250 < result.latency_ms < 1500
    assert server.requests[0].body == BODY


async def test_a_server_that_hangs_up_is_a_failure(sender: WebhookSender, receiver: StartReceiver) -> None:
    server = await receiver(mode="close")
    result = await sender.post(server.url(), BODY, {})
    assert (result.ok, result.status_code) == (False, None)
    assert result.error == "invalid HTTP response or connection closed"


async def test_connection_refused(sender: WebhookSender) -> None:
    result = await sender.post(f"http://127.0.0.1:{closed_port()}/hook", BODY, {})
    assert (result.ok, result.status_code, result.error) == (False, None, "connection refused")


async def test_only_a_bounded_excerpt_is_read(receiver: StartReceiver) -> None:
    server = await receiver(body=b"\xff" + b"x" * 2_000_000)
    sender = WebhookSender(allow_loopback=True, max_response_bytes=4096)
    try:
        result = await sender.post(server.url(), BODY, {})
    finally:
        await sender.aclose()
    assert result.ok
    assert result.response_excerpt == "\ufffd" + "x" * 511  # undecodable bytes are replaced


async def test_the_sender_keeps_working_after_failures(
    sender: WebhookSender, receiver: StartReceiver
) -> None:
    failing = await receiver(status=503)
    working = await receiver()
    results = await asyncio.gather(
        *(sender.post(server.url(), BODY, {}) for server in (failing, working, failing, working))
    )
    assert [result.status_code for result in results] == [503, 200, 503, 200]
    assert [result.error for result in results] == ["HTTP 503", None, "HTTP 503", None]


def test_ok_means_2xx() -> None:
    assert DeliveryResult(status_code=204, latency_ms=1.0, error=None).ok
    assert not DeliveryResult(status_code=304, latency_ms=1.0, error="redirect not followed").ok
    assert not DeliveryResult(status_code=None, latency_ms=1.0, error="timeout").ok
