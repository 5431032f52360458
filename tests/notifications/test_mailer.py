"""Mail delivery through a real local SMTP server (aiosmtpd), into files, and into the log."""

from __future__ import annotations

import asyncio
import logging
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from app.notifications.mailer import (
    FileMailer,
    LogMailer,
    MailDeliveryError,
    MailSettings,
    OutgoingEmail,
    SmtpMailer,
    build_message,
    mailer_from_settings,
)
from tests.notifications.smtp import Collector, authenticator, free_port

FROM = "Acme <no-reply@mail.acme.example>"
TEXT = "Hello,\n\nReset your password:\n\n    https://acme.example/reset?token=s3cret\n"
HTML = '<p>Hello, <a href="https://acme.example/reset?token=s3cret">reset</a> é</p>\n'


def outgoing(**overrides: Any) -> OutgoingEmail:
    values: dict[str, Any] = {
        "email_id": "0190f5a4-7c1e-7b7e-9d2a-3f4b5c6d7e8f",
        "to_address": "user@example.com",
        "subject": "Reset your Acme password",
        "text": TEXT,
        "html": HTML,
    }
    return OutgoingEmail(**(values | overrides))


def parse(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=default)
    assert isinstance(message, EmailMessage)
    return message


def assert_parts(message: EmailMessage) -> None:
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert isinstance(parts[0], EmailMessage)
    assert isinstance(parts[1], EmailMessage)
    # Parsing wire format (CRLF line ends) keeps the CRs in the decoded text.
    assert parts[0].get_content().replace("\r\n", "\n") == TEXT
    assert parts[1].get_content().replace("\r\n", "\n") == HTML


def eml_files(root: Path) -> list[Path]:
    return list(root.rglob("*.eml"))


def smtp_settings(port: int, **overrides: Any) -> MailSettings:
    values: dict[str, Any] = {
        "backend": "smtp",
        "from_address": FROM,
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_timeout_seconds": 2.0,
    }
    return MailSettings(**(values | overrides))


async def test_smtp_delivers_both_parts(smtp_server: tuple[Collector, int]) -> None:
    handler, port = smtp_server
    mailer = SmtpMailer(smtp_settings(port))
    await mailer.send(outgoing())
    await mailer.aclose()

    [envelope] = handler.envelopes
    assert envelope.mail_from == "no-reply@mail.acme.example"
    assert envelope.rcpt_tos == ["user@example.com"]
    assert isinstance(envelope.content, bytes)
    message = parse(envelope.content)
    assert message["From"] == FROM
    assert message["To"] == "user@example.com"
    assert message["Subject"] == "Reset your Acme password"
    assert message["Message-ID"] == "<0190f5a4-7c1e-7b7e-9d2a-3f4b5c6d7e8f@mail.acme.example>"
    assert message["Date"]
    assert message["Auto-Submitted"] == "auto-generated"
    assert_parts(message)


async def test_smtp_recipient_refused_with_5xx_is_permanent(smtp_server: tuple[Collector, int]) -> None:
    handler, port = smtp_server
    with pytest.raises(MailDeliveryError) as caught:
        await SmtpMailer(smtp_settings(port)).send(outgoing(to_address="unknown@example.com"))
    assert caught.value.permanent is True
    assert handler.envelopes == []


async def test_smtp_recipient_refused_with_4xx_is_temporary(smtp_server: tuple[Collector, int]) -> None:
    _, port = smtp_server
    with pytest.raises(MailDeliveryError) as caught:
        await SmtpMailer(smtp_settings(port)).send(outgoing(to_address="busy@example.com"))
    assert caught.value.permanent is False


async def test_smtp_message_rejected_with_5xx_is_permanent(smtp_server: tuple[Collector, int]) -> None:
    _, port = smtp_server
    with pytest.raises(MailDeliveryError) as caught:
        await SmtpMailer(smtp_settings(port)).send(outgoing(subject="spam"))
    assert caught.value.permanent is True


async def test_smtp_closed_port_is_temporary() -> None:
    with pytest.raises(MailDeliveryError) as caught:
        await SmtpMailer(smtp_settings(free_port())).send(outgoing())
    assert caught.value.permanent is False


async def test_smtp_silent_server_times_out_as_temporary() -> None:
    async def never_greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # hold the connection open without a greeting
        writer.close()

    server = await asyncio.start_server(never_greet, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(MailDeliveryError) as caught:
            await SmtpMailer(smtp_settings(port, smtp_timeout_seconds=0.2)).send(outgoing())
        assert caught.value.permanent is False
    finally:
        server.close()
        await server.wait_closed()


async def test_smtp_login() -> None:
    handler = Collector()
    port = free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=False
    )
    controller.start()
    try:
        await SmtpMailer(smtp_settings(port, smtp_username="mailer", smtp_password="right")).send(outgoing())
        assert len(handler.envelopes) == 1
        # Wrong credentials are our configuration, not this email's fault: retry after fixing them.
        bad = SmtpMailer(smtp_settings(port, smtp_username="mailer", smtp_password="wrong"))
        with pytest.raises(MailDeliveryError) as caught:
            await bad.send(outgoing())
        assert caught.value.permanent is False
    finally:
        controller.stop()


async def test_smtp_header_injection_is_refused_before_connecting(smtp_server: tuple[Collector, int]) -> None:
    handler, port = smtp_server
    with pytest.raises(MailDeliveryError) as caught:
        await SmtpMailer(smtp_settings(port)).send(outgoing(subject="Hi\r\nBcc: victim@example.com"))
    assert caught.value.permanent is True
    assert handler.envelopes == []


def test_smtp_tls_modes_exclude_each_other() -> None:
    with pytest.raises(ValueError, match="exclude"):
        SmtpMailer(MailSettings(smtp_tls=True, smtp_starttls=True))


@pytest.mark.parametrize(
    "overrides",
    [
        {"to_address": "user@example.com\r\nBcc: victim@example.com"},
        {"to_address": "user@example.com\nBcc: victim@example.com"},
        {"subject": "Hello\r\nBcc: victim@example.com"},
        {"subject": "Hello\nX-Injected: 1"},
        {"to_address": "a@example.com, b@example.com"},
        {"to_address": "not-an-address"},
        {"email_id": "../../etc/passwd"},
        {"email_id": "id>\r\nBcc: x@example.com"},
        {"email_id": ""},
    ],
)
def test_build_message_refuses_unsafe_values(overrides: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        build_message(outgoing(**overrides), from_address=FROM)


def test_build_message_headers() -> None:
    message = build_message(outgoing(), from_address="no-reply@acme.example")
    assert message["Message-ID"] == "<0190f5a4-7c1e-7b7e-9d2a-3f4b5c6d7e8f@acme.example>"
    assert_parts(message)


async def test_file_mailer_writes_a_parseable_eml(tmp_path: Path) -> None:
    directory = tmp_path / "nested" / "mail"
    mailer = FileMailer(MailSettings(backend="file", file_dir=str(directory), from_address=FROM))
    email = outgoing()
    await mailer.send(email)
    await mailer.send(email)  # a retry replaces the file instead of adding a second one
    await mailer.aclose()

    assert [p.name for p in directory.iterdir()] == [f"{email.email_id}.eml"]
    message = parse((directory / f"{email.email_id}.eml").read_bytes())
    assert message["To"] == "user@example.com"
    assert message["Subject"] == "Reset your Acme password"
    assert message["Message-ID"] == f"<{email.email_id}@mail.acme.example>"
    assert_parts(message)


async def test_file_mailer_refuses_path_traversal(tmp_path: Path) -> None:
    mailer = FileMailer(MailSettings(file_dir=str(tmp_path / "mail")))
    with pytest.raises(MailDeliveryError) as caught:
        await mailer.send(outgoing(email_id="../escaped"))
    assert caught.value.permanent is True
    assert eml_files(tmp_path) == []


async def test_file_mailer_unwritable_directory_is_temporary(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    mailer = FileMailer(MailSettings(file_dir=str(blocker / "mail")))
    with pytest.raises(MailDeliveryError) as caught:
        await mailer.send(outgoing())
    assert caught.value.permanent is False


async def test_log_mailer_logs_metadata_but_never_the_body(caplog: pytest.LogCaptureFixture) -> None:
    mailer = LogMailer(MailSettings())
    with caplog.at_level(logging.INFO, logger="app.notifications.mailer"):
        await mailer.send(outgoing())
    [record] = [r for r in caplog.records if r.name == "app.notifications.mailer"]
    assert record.levelno == logging.INFO
    assert record.__dict__["email_id"] == "0190f5a4-7c1e-7b7e-9d2a-3f4b5c6d7e8f"
    assert record.__dict__["to_address"] == "user@example.com"
    assert record.__dict__["subject"] == "Reset your Acme password"
    assert "s3cret" not in caplog.text
    assert all("s3cret" not in str(value) for value in record.__dict__.values())


def test_mailer_from_settings_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(mailer_from_settings(MailSettings()), LogMailer)
    assert isinstance(mailer_from_settings(MailSettings(backend="file", file_dir=str(tmp_path))), FileMailer)
    assert isinstance(mailer_from_settings(MailSettings(backend="smtp")), SmtpMailer)
