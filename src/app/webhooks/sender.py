"""POST signed webhooks to customer URLs without letting them steer us into our own networks.

Every TCP connection goes through `PublicOnlyNetworkBackend`, which resolves the host itself and
connects only if every address is public; checking the URL earlier is not enough because DNS
can answer differently by the time we connect (DNS rebinding). TLS still verifies the URL's host
name: httpcore takes SNI and the certificate name from the request's origin, not the address.
Redirects are never followed (a 3xx could point anywhere) and only a bounded excerpt of the
answer is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterable, AsyncIterator, Generator, Iterable, Iterator, Mapping
from typing import Any, cast

import httpcore
import httpx
import msgspec

from app.webhooks.ssrf import UnsafeUrlError, check_url_syntax, resolve_public

__all__ = ["DeliveryResult", "PublicOnlyNetworkBackend", "PublicOnlyTransport", "WebhookSender"]

EXCERPT_CHARS = 512

# Most specific first: httpcore's timeouts are also network errors, and so on.
_ERROR_MAP: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.ProxyError, httpx.ProxyError),
)
_HTTPCORE_ERRORS: tuple[type[Exception], ...] = tuple(source for source, _ in _ERROR_MAP)


class DeliveryResult(msgspec.Struct, frozen=True):
    """One attempt: the status (None if no answer), how long it took, and what went wrong."""

    status_code: int | None
    latency_ms: float
    error: str | None
    response_excerpt: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class PublicOnlyNetworkBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to addresses `resolve_public` accepts, resolved at connect time."""

    def __init__(self, *, allow_loopback: bool) -> None:
        self._allow_loopback = allow_loopback
        # httpcore declares a stand-in class for when anyio is missing, which hides the real type.
        self._inner = cast(httpcore.AsyncNetworkBackend, httpcore.AnyIOBackend())

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        try:
            async with asyncio.timeout_at(deadline):
                addresses = await resolve_public(host, port, allow_loopback=self._allow_loopback)
        except TimeoutError:
            raise httpcore.ConnectTimeout("name resolution timed out") from None
        last_error: httpcore.ConnectError | None = None
        for address in addresses:  # in the resolver's order; a refused address falls through
            remaining = None if deadline is None else max(deadline - loop.time(), 0.0)
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=remaining,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                last_error = exc
        assert last_error is not None  # resolve_public never returns an empty list
        raise last_error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise UnsafeUrlError("Webhooks are delivered over TCP only.")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@contextlib.contextmanager
def _httpx_errors() -> Generator[None]:
    """Raise httpcore's errors as httpx's, as a transport must; anything else passes through."""
    try:
        yield
    except _HTTPCORE_ERRORS as exc:
        target = next(target for source, target in _ERROR_MAP if isinstance(exc, source))
        raise target(str(exc)) from exc


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for chunk in self._stream:
                yield chunk

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            await close()


class PublicOnlyTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an httpcore pool that connects through `PublicOnlyNetworkBackend`.

    httpx's own `AsyncHTTPTransport` cannot take a network backend, hence this small adapter
    (the same request and response mapping it does, HTTP/1.1 only, no proxies).
    """

    def __init__(self, *, allow_loopback: bool, ssl_context: ssl.SSLContext | None = None) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            http1=True,
            http2=False,
            retries=0,
            network_backend=PublicOnlyNetworkBackend(allow_loopback=allow_loopback),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            core_response = await self._pool.handle_async_request(core_request)
        assert isinstance(core_response.stream, AsyncIterable)
        extensions: dict[str, Any] = dict(core_response.extensions)  # pyright: ignore[reportUnknownMemberType,reportUnknownArgumentType]
        return httpx.Response(
            status_code=core_response.status,
            headers=core_response.headers,
            stream=_ResponseStream(core_response.stream),
            extensions=extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _connect_failure(exc: httpx.ConnectError) -> str:
    for cause in _causes(exc):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return "TLS certificate not valid for the host"
        if isinstance(cause, ssl.SSLError):
            return "TLS handshake failed"
        if isinstance(cause, OSError) and cause.strerror:
            return f"connection failed: {cause.strerror.lower()}"
    return "connection failed"


def _status_error(status: int) -> str | None:
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return "redirect not followed"
    return f"HTTP {status}"


class WebhookSender:
    """Delivers webhook POSTs; one connection pool per sender, so share one and `aclose` it."""

    def __init__(
        self,
        *,
        timeout_seconds: float = 10.0,
        allow_loopback: bool = False,
        user_agent: str = "app-webhooks/1",
        max_response_bytes: int = 65536,
    ) -> None:
        self._timeout = timeout_seconds
        self._allow_loopback = allow_loopback
        self._max_response_bytes = max_response_bytes
        self._client = httpx.AsyncClient(
            transport=PublicOnlyTransport(allow_loopback=allow_loopback),
            follow_redirects=False,
            timeout=httpx.Timeout(timeout_seconds),
            trust_env=False,  # no proxies or .netrc credentials from the environment
            headers={"User-Agent": user_agent, "Accept-Encoding": "identity"},
        )

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> DeliveryResult:
        """POST `body` as JSON; every network or HTTP failure comes back as a failed result.

        The whole exchange, reading the excerpt included, gets `timeout_seconds`; `latency_ms`
        covers it. `headers` may override the defaults (Content-Type, User-Agent).
        """
        started = time.perf_counter()

        def failed(error: str, status_code: int | None = None) -> DeliveryResult:
            latency_ms = (time.perf_counter() - started) * 1000
            return DeliveryResult(status_code=status_code, latency_ms=latency_ms, error=error)

        try:
            checked_url = check_url_syntax(url, allow_loopback=self._allow_loopback)
            async with asyncio.timeout(self._timeout):
                status, excerpt = await self._exchange(checked_url, body, headers)
        except UnsafeUrlError as exc:
            return failed(f"refused: {exc}")
        except (TimeoutError, httpx.TimeoutException):
            return failed("timeout")
        except httpx.ConnectError as exc:
            return failed(_connect_failure(exc))
        except httpx.RemoteProtocolError:
            return failed("invalid HTTP response or connection closed")
        except httpx.NetworkError:
            return failed("connection lost")
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return failed(f"request failed: {type(exc).__name__}")
        return DeliveryResult(
            status_code=status,
            latency_ms=(time.perf_counter() - started) * 1000,
            error=_status_error(status),
            response_excerpt=excerpt,
        )

    async def _exchange(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, str]:
        request_headers = {"Content-Type": "application/json", **headers}
        async with self._client.stream("POST", url, content=body, headers=request_headers) as response:
            received = bytearray()
            # Raw bytes: Accept-Encoding is identity, and decompressing could turn a capped read
            # into an unbounded one.
            async for chunk in response.aiter_raw():
                received += chunk
                if len(received) >= self._max_response_bytes:
                    break
        excerpt = bytes(received[: self._max_response_bytes])[: EXCERPT_CHARS * 4]
        return response.status_code, excerpt.decode(errors="replace")[:EXCERPT_CHARS]

    async def aclose(self) -> None:
        await self._client.aclose()
