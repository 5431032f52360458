"""An app with two inbound webhook sources, and a signer written independently of the service."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.core.config import Settings
from app.main import create_app

ACME_SECRETS = ("acme-old-secret-0123456789", "acme-new-secret-0123456789")
SHOP_SECRET = "shop-secret-0123456789abcdef"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def event(event_type: str = "invoice.paid", event_id: str | None = None, **data: Any) -> bytes:
    return json.dumps(
        {"id": event_id or f"evt_{uuid.uuid4().hex}", "type": event_type, "data": data}
    ).encode()


@pytest.fixture(scope="module")
def inbound_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(
        webhook_secret_acme=",".join(ACME_SECRETS),
        webhook_secret_shop=SHOP_SECRET,
        webhook_max_body_bytes="4096",
    )


@pytest.fixture(scope="module")
async def inbound_client(inbound_settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(create_app(inbound_settings)) as client:
        yield client
