"""Every kind of job, with its retry policy: known to the API (which queues jobs) and the worker
(which runs them). Handlers are bound to kinds in the worker (`app.jobs.registry`).

Retries: after failed attempt n a job is due again after a random delay between half and all
of ``min(backoff_cap, backoff_base * 2 ** (n - 1))`` ("equal jitter": retries of many jobs that
failed together spread out, yet each waits at least half the nominal delay). After
`max_attempts` attempts, or at once on a permanent failure, the job is dead.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

__all__ = [
    "EMAIL_SEND",
    "INBOUND_PROCESS",
    "KINDS",
    "WEBHOOK_DELIVER",
    "WEBHOOK_FAN_OUT",
    "JobSpec",
    "spec_of",
]


@dataclass(frozen=True, slots=True)
class JobSpec:
    name: str
    max_attempts: int = 8
    timeout_seconds: float = 30.0
    backoff_base_seconds: float = 5.0
    backoff_cap_seconds: float = 3_600.0

    def retry_delay(self, attempt: int, rng: random.Random | None = None) -> timedelta:
        """How long to wait after failed attempt number `attempt` (1-based)."""
        nominal = min(self.backoff_cap_seconds, self.backoff_base_seconds * 2 ** max(attempt - 1, 0))
        return timedelta(seconds=(rng or random).uniform(nominal / 2, nominal))


# An inbound webhook event: run its handler (app.webhooks.inbound).
INBOUND_PROCESS = JobSpec("inbound.process", max_attempts=10, timeout_seconds=30.0)
# A domain event: create one delivery per subscribed endpoint of the org.
WEBHOOK_FAN_OUT = JobSpec("webhooks.fan_out", max_attempts=10, timeout_seconds=30.0)
# One delivery to one endpoint: about 3 days of retries (5 s doubling up to 6 h per wait).
WEBHOOK_DELIVER = JobSpec(
    "webhooks.deliver",
    max_attempts=20,
    timeout_seconds=40.0,
    backoff_base_seconds=5.0,
    backoff_cap_seconds=21_600.0,
)
# One email from the outbox, over SMTP: temporary failures retried for about a day.
EMAIL_SEND = JobSpec("email.send", max_attempts=12, timeout_seconds=60.0, backoff_base_seconds=30.0)

KINDS: dict[str, JobSpec] = {
    spec.name: spec for spec in (INBOUND_PROCESS, WEBHOOK_FAN_OUT, WEBHOOK_DELIVER, EMAIL_SEND)
}


def spec_of(kind: str) -> JobSpec | None:
    return KINDS.get(kind)
