"""Outbound webhook jobs: fan a domain event out to endpoints, then deliver each one, signed.

`webhooks.fan_out` creates one delivery (and its `webhooks.deliver` job) per enabled endpoint
subscribed to the event's type; running twice creates nothing twice. `webhooks.deliver` POSTs
the event, signed like inbound webhooks (app.webhooks.signing), to the endpoint: any 2xx is a
success; anything else (an error status, a redirect, a timeout, a refused connection, an address
the SSRF guard refuses) is a failed attempt, logged per endpoint and retried with the job's
backoff (about 3 days). An endpoint failing for WEBHOOK_DISABLE_AFTER_HOURS and at least
WEBHOOK_DISABLE_AFTER_FAILURES times in a row is disabled and its org's owners and admins get
an email; its pending deliveries then stop.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import msgspec

from app.core.config import Settings
from app.core.db import Database, sql
from app.core.ids import new_id
from app.core.logging import get_logger
from app.core.monitoring import monitor_performance
from app.jobs.kinds import WEBHOOK_DELIVER
from app.jobs.registry import PermanentJobError
from app.jobs.structs import ClaimedJob
from app.notifications.service import EmailTemplate, queue_email
from app.webhooks.sender import WebhookSender
from app.webhooks.signing import SIGNATURE_HEADER, signature_header

__all__ = ["WebhookDelivery"]

logger = get_logger(__name__)
MAX_ENDPOINTS_PER_EVENT = 100
USER_AGENT = "app-webhooks/1"


class _Pending(msgspec.Struct, frozen=True):
    id: UUID
    endpoint_id: UUID
    event_id: UUID
    event_type: str
    attempts: int
    url: str
    secret: str
    previous_secret: str | None  # the replaced secret, while its grace period after a rotation lasts
    enabled: bool
    payload: dict[str, Any]
    occurred_at: datetime


class _Outcome(msgspec.Struct, frozen=True):
    status_code: int | None
    latency_ms: float
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _ids(job: ClaimedJob, key: str) -> tuple[UUID, UUID]:
    try:
        return UUID(str(job.payload["org_id"])), UUID(str(job.payload[key]))
    except (KeyError, ValueError) as exc:
        raise PermanentJobError(f"bad job payload: {exc}") from None


class WebhookDelivery:
    def __init__(self, *, settings: Settings, db: Database) -> None:
        self._settings = settings
        self._db = db
        # Checks every address it connects to (not only at registration): DNS rebinding to an
        # internal address is refused at connect time (app.webhooks.sender).
        self._sender = WebhookSender(
            timeout_seconds=settings.webhook_timeout_seconds,
            allow_loopback=settings.webhook_allow_loopback,
            user_agent=USER_AGENT,
        )

    async def aclose(self) -> None:
        await self._sender.aclose()

    async def purge_old_events(self) -> int:
        """Delete up to 1,000 domain events past EVENT_RETENTION_DAYS (housekeeping)."""
        before = datetime.now(UTC) - timedelta(days=self._settings.event_retention_days)
        async with self._db.connection() as conn:
            return len([row async for row in sql().outbound.delete_old_domain_events(conn, before=before)])

    # ---- fan-out ------------------------------------------------------------------------------

    async def fan_out(self, job: ClaimedJob) -> None:
        org_id, event_id = _ids(job, "event_id")
        async with self._db.transaction() as conn:
            targets = [
                record
                async for record in sql().outbound.fan_out_targets(
                    conn, org_id=org_id, event_id=event_id, limit=MAX_ENDPOINTS_PER_EVENT
                )
            ]
            if not targets:
                return
            ids = [new_id() for _ in targets]
            await sql().outbound.insert_webhook_deliveries(
                conn,
                org_id=org_id,
                event_id=event_id,
                event_type=targets[0]["event_type"],
                ids=ids,
                endpoint_ids=[record["endpoint_id"] for record in targets],
                job_ids=[new_id() for _ in targets],
                max_attempts=WEBHOOK_DELIVER.max_attempts,
            )

    # ---- delivery -----------------------------------------------------------------------------

    async def deliver(self, job: ClaimedJob) -> None:
        org_id, delivery_id = _ids(job, "delivery_id")
        async with self._db.connection() as conn:
            record = await sql().outbound.get_delivery_for_sending(
                conn, org_id=org_id, delivery_id=delivery_id
            )
        if record is None:
            return  # delivered or given up already: this job ran before
        pending = msgspec.convert(dict(record), _Pending)
        last_attempt = job.attempts >= job.max_attempts
        if not pending.enabled:
            await self._record(org_id, pending, _Outcome(None, 0.0, "endpoint disabled"), give_up=True)
            return
        outcome = await self._post(org_id, pending)
        disabled_now = False
        async with self._db.transaction() as conn:
            if outcome.ok:
                await sql().outbound.record_endpoint_success(
                    conn, org_id=org_id, endpoint_id=pending.endpoint_id
                )
            else:
                failure = await sql().outbound.record_endpoint_failure(
                    conn,
                    org_id=org_id,
                    endpoint_id=pending.endpoint_id,
                    max_failures=self._settings.webhook_disable_after_failures,
                    max_failing_seconds=self._settings.webhook_disable_after_hours * 3600,
                    reason=f"failing since more than {self._settings.webhook_disable_after_hours:g} hours: "
                    f"{outcome.error}",
                )
                disabled_now = bool(failure and failure["disabled_now"])
                if disabled_now:
                    await self._tell_admins(conn, org_id, pending.url, outcome.error or "failing")
            give_up = not outcome.ok and (last_attempt or disabled_now)
            await self._record_in(conn, org_id, pending, outcome, give_up=give_up)
        if outcome.ok:
            return
        if disabled_now:
            logger.warning("webhook endpoint disabled", extra={"endpoint_id": str(pending.endpoint_id)})
            return  # its remaining deliveries stop at their next attempt
        raise RuntimeError(f"delivery attempt failed: {outcome.error}")

    def _body(self, org_id: UUID, pending: _Pending) -> bytes:
        return msgspec.json.encode(
            {
                "id": str(pending.event_id),
                "type": pending.event_type,
                "created_at": pending.occurred_at,
                "org_id": str(org_id),
                "data": pending.payload,
            }
        )

    @monitor_performance("webhook.post")
    async def _post(self, org_id: UUID, pending: _Pending) -> _Outcome:
        body = self._body(org_id, pending)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature_header(
                [pending.secret, *filter(None, [pending.previous_secret])], int(time.time()), body
            ),
            "Webhook-Id": str(pending.event_id),
            "Webhook-Delivery": str(pending.id),
        }
        result = await self._sender.post(pending.url, body, headers)
        return _Outcome(result.status_code, result.latency_ms, None if result.ok else result.error)

    async def _record(self, org_id: UUID, pending: _Pending, outcome: _Outcome, *, give_up: bool) -> None:
        async with self._db.transaction() as conn:
            await self._record_in(conn, org_id, pending, outcome, give_up=give_up)

    async def _record_in(
        self, conn: Any, org_id: UUID, pending: _Pending, outcome: _Outcome, *, give_up: bool
    ) -> None:
        await sql().outbound.record_delivery_attempt(
            conn,
            org_id=org_id,
            attempt_id=new_id(),
            delivery_id=pending.id,
            status_code=outcome.status_code,
            latency_ms=round(outcome.latency_ms, 2),
            error=outcome.error,
            succeeded=outcome.ok,
            give_up=give_up,
        )

    async def _tell_admins(self, conn: Any, org_id: UUID, url: str, reason: str) -> None:
        recipients = [
            record
            async for record in sql().outbound.list_endpoint_failure_recipients(conn, org_id=org_id, limit=50)
        ]
        link = f"{self._settings.public_base_url.rstrip('/')}/orgs/{org_id}/webhook-endpoints"
        for recipient in recipients:
            await queue_email(
                conn=conn,
                user_id=recipient["user_id"],
                to_address=recipient["email"],
                template=EmailTemplate.WEBHOOK_ENDPOINT_DISABLED,
                link=link,
                extra_payload={
                    "org_name": recipient["org_name"],
                    "endpoint_url": url,
                    "reason": reason[:300],
                },
            )
