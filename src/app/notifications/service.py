"""Email notifications: queued in the outbox inside the caller's transaction.

A queued email is a row in `email_outbox` and an `email.send` job, written together in the
transaction of the change that causes it: the email exists if and only if the change commits.
The worker sends it (app.notifications.delivery). In development, `LOG_EMAIL_LINKS=true` also
logs the link it carries, so the flows can be followed with curl; production refuses it.
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from app.core.db import Connection
from app.core.ids import new_id
from app.core.logging import get_logger
from app.jobs.kinds import EMAIL_SEND
from app.notifications import queries

__all__ = ["EmailTemplate", "queue_email"]

logger = get_logger(__name__)


class EmailTemplate(StrEnum):
    VERIFY_EMAIL = "verify_email"
    PASSWORD_RESET = "password_reset"
    ORG_INVITATION = "org_invitation"
    WEBHOOK_ENDPOINT_DISABLED = "webhook_endpoint_disabled"


async def queue_email(
    *,
    conn: Connection,
    user_id: UUID | None,
    to_address: str,
    template: EmailTemplate,
    link: str,
    log_link: bool = False,
    extra_payload: dict[str, str] | None = None,
) -> UUID:
    """Write the email to the outbox; it is sent only if the surrounding transaction commits."""
    email_id = new_id()
    await queries.insert_email(
        conn,
        id=email_id,
        user_id=user_id,
        template=template.value,
        to_address=to_address,
        payload={**(extra_payload or {}), "link": link},
        job_id=new_id(),
        max_attempts=EMAIL_SEND.max_attempts,
    )
    extra: dict[str, str] = {"email_id": str(email_id), "template": template.value}
    if log_link:
        extra["link"] = link
    logger.info("email queued", extra=extra)
    return email_id
