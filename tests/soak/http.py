"""The soak's HTTP client: aiohttp, with answers read in full and kept as plain values.

Not httpx (the other tests' client): at a few hundred requests a second its connection pool
scans every waiting request for each one it serves, so once a stall queues requests the client
itself eats the CPU and the latencies it reports are its own. A load driver must have headroom
to spare, or it measures itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

# What a request may fail with before any answer: a transport error or the client's timeout.
TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError)


@dataclass(frozen=True)
class Answer:
    method: str
    url: str
    status_code: int
    headers: Mapping[str, str]  # case-insensitive (aiohttp's multidict)
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")


class Http:
    """Keep-alive connections to one server, up to `connections` at once."""

    def __init__(self, base_url: str, *, connections: int = 512, timeout: float = 10.0) -> None:
        self._base_url = base_url.rstrip("/")
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections),
            timeout=aiohttp.ClientTimeout(total=timeout),
        )

    async def close(self) -> None:
        await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        url = self._base_url + path
        async with self._session.request(
            method, url, json=json, data=content, params=params, headers=headers
        ) as response:
            body = await response.read()
            return Answer(method, str(response.url), response.status, response.headers, body)

    async def get(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("POST", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("PATCH", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("DELETE", path, **kwargs)
