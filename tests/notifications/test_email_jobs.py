"""Emails end to end: a change queues one in its transaction, the worker sends it over SMTP."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

import asyncpg
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.core.config import Settings
from tests.factories import register
from tests.notifications.smtp import Collector
from tests.workers import service_worker

Client = AsyncTestClient[Litestar]


async def delivered_to(collector: Collector, address: str, within: float = 30) -> EmailMessage:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        for envelope in collector.envelopes:
            if address in envelope.rcpt_tos:
                assert isinstance(envelope.content, bytes)
                message = message_from_bytes(envelope.content, policy=default)
                assert isinstance(message, EmailMessage)
                return message
        assert asyncio.get_running_loop().time() < deadline, f"nothing delivered to {address}"
        await asyncio.sleep(0.05)


def smtp_settings(make_settings: Callable[..., Settings], port: int) -> Settings:
    return make_settings(
        mail_backend="smtp", smtp_host="127.0.0.1", smtp_port=str(port), smtp_timeout_seconds="2"
    )


async def test_a_verification_email_is_sent_by_the_worker_over_smtp(
    client: Client,
    db: asyncpg.Pool[Any],
    make_settings: Callable[..., Settings],
    smtp_server: tuple[Collector, int],
) -> None:
    collector, port = smtp_server
    account = await register(client)
    email_id = await db.fetchval(
        "SELECT id FROM email_outbox WHERE to_address = $1 AND template = 'verify_email'", account["email"]
    )
    assert email_id is not None

    async with service_worker(smtp_settings(make_settings, port)):
        message = await delivered_to(collector, account["email"])
        for _ in range(100):
            if await db.fetchval("SELECT sent_at FROM email_outbox WHERE id = $1", email_id):
                break
            await asyncio.sleep(0.05)

    assert message["Message-ID"].startswith(f"<{email_id}@")
    parts = [part.get_content_type() for part in message.walk() if not part.is_multipart()]
    assert parts == ["text/plain", "text/html"]
    link = (await db.fetchval("SELECT payload->>'link' FROM email_outbox WHERE id = $1", email_id)) or ""
    text = message.get_body(("plain",))
    assert text is not None
    assert link
    assert link in text.get_content()
    assert await db.fetchval("SELECT sent_at FROM email_outbox WHERE id = $1", email_id) is not None


async def test_a_refused_recipient_makes_the_job_dead_at_once(
    client: Client,
    db: asyncpg.Pool[Any],
    make_settings: Callable[..., Settings],
    smtp_server: tuple[Collector, int],
) -> None:
    _, port = smtp_server
    account = await register(client, email=f"unknown@{__name__.replace('.', '-')}.example")
    email_id = await db.fetchval("SELECT id FROM email_outbox WHERE to_address = $1", account["email"])

    async with service_worker(smtp_settings(make_settings, port)):
        for _ in range(300):
            state = await db.fetchval(
                "SELECT state FROM jobs WHERE kind = 'email.send' AND payload->>'email_id' = $1",
                str(email_id),
            )
            if state == "dead":
                break
            await asyncio.sleep(0.05)

    job = await db.fetchrow(
        "SELECT state, attempts, last_error FROM jobs"
        " WHERE kind = 'email.send' AND payload->>'email_id' = $1",
        str(email_id),
    )
    assert job is not None
    assert (job["state"], job["attempts"]) == ("dead", 1)
    assert "550" in job["last_error"]
    assert await db.fetchval("SELECT sent_at FROM email_outbox WHERE id = $1", email_id) is None


async def test_a_failed_change_queues_no_email(client: Client, db: asyncpg.Pool[Any]) -> None:
    """A second registration with a taken email fails in its transaction: no email, no job."""
    account = await register(client)
    again = await client.post(
        "/auth/register",
        json={
            "email": account["email"],
            "username": account["username"] + "x",
            "password": account["password"],
        },
    )
    assert again.status_code == 409
    emails = await db.fetch("SELECT id FROM email_outbox WHERE to_address = $1", account["email"])
    assert len(emails) == 1
    jobs = await db.fetchval(
        "SELECT count(*) FROM jobs WHERE kind = 'email.send' AND payload->>'email_id' = $1",
        str(emails[0]["id"]),
    )
    assert jobs == 1
