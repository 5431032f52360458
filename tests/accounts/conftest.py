"""A safety net for every accounts test: no response of the shared client may carry a
password, a password hash or a token digest (tests/factories.py: assert_no_secrets)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.factories import Client, assert_no_secrets


async def _check_response(response: httpx.Response) -> None:
    await response.aread()
    assert_no_secrets(response)


@pytest.fixture(autouse=True)
def _no_secrets_in_any_response(client: Client) -> Iterator[None]:
    hooks = client.event_hooks
    client.event_hooks = {**hooks, "response": [*hooks["response"], _check_response]}
    yield
    client.event_hooks = hooks
