"""Sending rendered emails: over SMTP, into `.eml` files (development), or into the log (tests).

Every backend raises `MailDeliveryError` and nothing else for a failed delivery, with `permanent`
telling the caller whether retrying the same email can help. The email id becomes the
Message-ID, so a retry after an ambiguous failure (the connection dropped after DATA) is
recognisable as a duplicate by receivers.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, getaddresses, parseaddr
from pathlib import Path
from typing import Literal, Protocol

import aiosmtplib
import msgspec

from app.core.logging import get_logger
from app.core.monitoring import monitor_performance

__all__ = [
    "FileMailer",
    "LogMailer",
    "MailDeliveryError",
    "MailSettings",
    "Mailer",
    "OutgoingEmail",
    "SmtpMailer",
    "build_message",
    "mailer_from_settings",
]

logger = get_logger(__name__)

# The id is a Message-ID local part and a file name: no path separators, no `..`, no header syntax.
_EMAIL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class MailSettings(msgspec.Struct, frozen=True, kw_only=True):
    backend: Literal["smtp", "file", "log"] = "log"
    from_address: str = "App <no-reply@localhost>"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False  # upgrade a plain connection with STARTTLS (port 587 style)
    smtp_tls: bool = False  # TLS from the first byte (port 465 style)
    smtp_timeout_seconds: float = 10.0
    file_dir: str = ".data/mail"


class OutgoingEmail(msgspec.Struct, frozen=True):
    email_id: str
    to_address: str
    subject: str
    text: str
    html: str


class MailDeliveryError(Exception):
    """The email was not delivered; retry it only when `permanent` is False."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class Mailer(Protocol):
    async def send(self, email: OutgoingEmail) -> None: ...

    async def aclose(self) -> None: ...


def build_message(email: OutgoingEmail, *, from_address: str) -> EmailMessage:
    """A multipart/alternative message (text, then HTML); ValueError for unsafe headers or ids."""
    for name, value in (("to_address", email.to_address), ("subject", email.subject), ("from", from_address)):
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
            raise ValueError(f"{name} must not contain CR, LF or other control characters (header injection)")
    if not _EMAIL_ID.fullmatch(email.email_id):
        raise ValueError("email_id must be 1-128 letters, digits, '.', '_' or '-'")
    _single_address(email.to_address, what="to_address")
    sender = _single_address(from_address, what="from_address")

    message = EmailMessage()
    message["From"] = from_address
    message["To"] = email.to_address
    message["Subject"] = email.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = f"<{email.email_id}@{sender.rpartition('@')[2]}>"
    # RFC 3834: tells vacation responders not to answer a machine.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    return message


def _single_address(value: str, *, what: str) -> str:
    """The bare address of a header value that must name exactly one mailbox."""
    addresses = getaddresses([value])
    address = addresses[0][1] if len(addresses) == 1 else ""
    local, _, domain = address.rpartition("@")
    if not local or not domain:
        raise ValueError(f"{what} must be exactly one email address")
    return address


def _build(email: OutgoingEmail, from_address: str) -> EmailMessage:
    # A malformed email fails the same way on every attempt: permanent, not a crash of the caller.
    try:
        return build_message(email, from_address=from_address)
    except ValueError as exc:
        raise MailDeliveryError(str(exc), permanent=True) from exc


class SmtpMailer:
    """One SMTP connection per email: simple, and nothing stale to reconnect after idle timeouts."""

    def __init__(self, settings: MailSettings) -> None:
        if settings.smtp_tls and settings.smtp_starttls:
            raise ValueError("smtp_tls (implicit TLS) and smtp_starttls exclude each other")
        self._settings = settings

    @monitor_performance("email.smtp_send")
    async def send(self, email: OutgoingEmail) -> None:
        s = self._settings
        message = _build(email, s.from_address)
        recipient = parseaddr(email.to_address)[1]
        try:
            errors, _ = await aiosmtplib.send(
                message,
                sender=parseaddr(s.from_address)[1],
                recipients=[recipient],
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password,
                use_tls=s.smtp_tls,
                start_tls=s.smtp_starttls,
                timeout=s.smtp_timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            permanent = all(refusal.code >= 500 for refusal in exc.recipients)
            raise MailDeliveryError(f"recipient refused: {exc}", permanent=permanent) from exc
        except (aiosmtplib.SMTPAuthenticationError, aiosmtplib.SMTPConnectResponseError) as exc:
            # Our credentials or the relay's state, not this email: retrying later can succeed.
            raise MailDeliveryError(f"SMTP server refused the session: {exc}", permanent=False) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise MailDeliveryError(f"SMTP error: {exc}", permanent=exc.code >= 500) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise MailDeliveryError(f"SMTP connection failed: {exc!r}", permanent=False) from exc
        if errors:  # only partial refusals land here; there is one recipient, so this is defensive
            response = next(iter(errors.values()))
            raise MailDeliveryError(f"recipient refused: {response}", permanent=response.code >= 500)

    async def aclose(self) -> None:
        """Nothing to close: connections live only for one send."""


class FileMailer:
    """Writes `<file_dir>/<email_id>.eml`; sending the same id again replaces the file."""

    def __init__(self, settings: MailSettings) -> None:
        self._directory = Path(settings.file_dir)
        self._from_address = settings.from_address

    async def send(self, email: OutgoingEmail) -> None:
        data = _build(email, self._from_address).as_bytes(policy=SMTP)
        try:
            await asyncio.to_thread(self._write, f"{email.email_id}.eml", data)
        except OSError as exc:
            raise MailDeliveryError(f"could not write the email file: {exc}", permanent=False) from exc

    def _write(self, name: str, data: bytes) -> None:
        # A reader never sees half a message: write a temp file, then rename over the target.
        self._directory.mkdir(parents=True, exist_ok=True)
        fd, temp_path = tempfile.mkstemp(dir=self._directory, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(temp_path, self._directory / name)
        except BaseException:
            Path(temp_path).unlink(missing_ok=True)
            raise

    async def aclose(self) -> None:
        """Nothing to close."""


class LogMailer:
    """Logs that an email would be sent; never the body, which carries tokens."""

    def __init__(self, settings: MailSettings) -> None:
        self._from_address = settings.from_address

    async def send(self, email: OutgoingEmail) -> None:
        _build(email, self._from_address)  # refuse what the real backends would refuse
        logger.info(
            "email sent to log",
            extra={"email_id": email.email_id, "to_address": email.to_address, "subject": email.subject},
        )

    async def aclose(self) -> None:
        """Nothing to close."""


def mailer_from_settings(settings: MailSettings) -> Mailer:
    if settings.backend == "smtp":
        return SmtpMailer(settings)
    if settings.backend == "file":
        return FileMailer(settings)
    return LogMailer(settings)
