"""The service as the benchmark serves it: `granian ... bench.service:app`.

Exactly `app.main.create_app()` with the production settings the harness puts in the
environment, plus a Sentry transport that keeps nothing and sends nothing: Sentry is on (its
integration wraps every request and samples traces at SENTRY_TRACES_SAMPLE_RATE) without a
network dependency in the measurement.
"""

from __future__ import annotations

from typing import Any

from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from app.main import create_app


class DiscardingTransport(Transport):
    """Counts envelopes and drops them."""

    sent = 0

    def capture_envelope(self, envelope: Envelope) -> None:
        DiscardingTransport.sent += 1

    def flush(self, timeout: float, callback: Any = None) -> None:
        return None


app = create_app(sentry_transport=DiscardingTransport)
