"""The verification example in docs/EVENTS.md works against the service's own signatures."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.webhooks.signing import signature_header

EVENTS_MD = Path(__file__).resolve().parents[2] / "docs" / "EVENTS.md"


def documented_verify() -> Callable[..., bool]:
    blocks = re.findall(r"```python\n(.*?)```", EVENTS_MD.read_text(), re.DOTALL)
    [block] = [b for b in blocks if "def verify(" in b]
    namespace: dict[str, Any] = {}
    exec(block, namespace)  # noqa: S102 - our own documentation, under test
    return namespace["verify"]


def test_the_documented_verifier_accepts_a_real_signature_and_refuses_bad_ones() -> None:
    verify = documented_verify()
    body = b'{"id":"evt_1","type":"item.created"}'
    now = int(time.time())
    header = signature_header(["old-secret-0123456789", "new-secret-0123456789"], now, body)

    assert verify(header, body, "new-secret-0123456789")
    assert verify(header, body, "old-secret-0123456789")
    assert not verify(header, body, "other-secret-0123456789")
    assert not verify(header, body + b" ", "new-secret-0123456789")
    stale = signature_header(["new-secret-0123456789"], now - 600, body)
    assert not verify(stale, body, "new-secret-0123456789")
