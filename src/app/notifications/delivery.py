"""The `email.send` job: render an outbox email and hand it to the mail backend.

At least once: an email is marked sent after the server accepted it, so a worker that dies in
between sends it again (with the same Message-ID, which receivers can use to drop the copy).
A permanent refusal (unknown recipient, bad template data) makes the job dead at once; a
temporary one (server down, 4xx) is retried with the job's backoff.
"""

from __future__ import annotations

from uuid import UUID

from app.core.config import Settings
from app.core.db import Database
from app.jobs.registry import PermanentJobError
from app.jobs.structs import ClaimedJob
from app.notifications import queries
from app.notifications.mailer import MailDeliveryError, Mailer, MailSettings, OutgoingEmail
from app.notifications.templates import TemplateDataError, UnknownTemplateError, render_email

__all__ = ["EmailDelivery", "mail_settings"]


def mail_settings(settings: Settings) -> MailSettings:
    return MailSettings(
        backend=settings.mail_backend,
        from_address=settings.mail_from_address,
        smtp_host=settings.smtp_host,
        smtp_port=settings.smtp_port,
        smtp_username=settings.smtp_username,
        smtp_password=settings.smtp_password,
        smtp_starttls=settings.smtp_starttls,
        smtp_tls=settings.smtp_tls,
        smtp_timeout_seconds=settings.smtp_timeout_seconds,
        file_dir=settings.mail_file_dir,
    )


class EmailDelivery:
    def __init__(self, *, db: Database, mailer: Mailer, product_name: str = "App") -> None:
        self._db = db
        self._mailer = mailer
        self._product_name = product_name

    async def send(self, job: ClaimedJob) -> None:
        try:
            email_id = UUID(str(job.payload["email_id"]))
        except (KeyError, ValueError) as exc:
            raise PermanentJobError(f"bad email job payload: {exc}") from None
        async with self._db.connection() as conn:
            email = await queries.get_unsent_email(conn, id=email_id)
        if email is None:
            return  # sent already (this job ran before), or the outbox row is gone
        try:
            rendered = render_email(email.template, email.payload, product_name=self._product_name)
        except (UnknownTemplateError, TemplateDataError) as exc:
            raise PermanentJobError(f"email {email_id} cannot be rendered: {exc}") from None
        outgoing = OutgoingEmail(
            email_id=str(email_id),
            to_address=email.to_address,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
        )
        try:
            await self._mailer.send(outgoing)
        except MailDeliveryError as exc:
            if exc.permanent:
                raise PermanentJobError(str(exc)) from exc
            raise
        async with self._db.connection() as conn:
            await queries.mark_email_sent(conn, id=email_id)
