"""Email templates: both parts carry the link, values are escaped in HTML, bad data is refused."""

from __future__ import annotations

from typing import Any

import pytest

from app.notifications.service import EmailTemplate
from app.notifications.templates import (
    RenderedEmail,
    TemplateDataError,
    UnknownTemplateError,
    render_email,
    template_names,
)

LINK = "https://app.example.com/verify?token=abc123&x=1"

PAYLOADS: dict[str, dict[str, Any]] = {
    "verify_email": {"link": LINK},
    "password_reset": {"link": LINK},
    "org_invitation": {"link": LINK},
    "webhook_endpoint_disabled": {
        "org_name": "Acme",
        "endpoint_url": "https://hooks.acme.example/in",
        "reason": "20 consecutive delivery failures",
        "link": LINK,
    },
}


def test_every_service_template_is_known() -> None:
    assert {t.value for t in EmailTemplate} <= template_names()
    assert set(PAYLOADS) == template_names()


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_renders_both_parts_with_the_link(name: str) -> None:
    email = render_email(name, PAYLOADS[name], product_name="Acme Cloud")
    assert isinstance(email, RenderedEmail)
    assert email.subject
    assert "\n" not in email.subject
    assert LINK in email.text
    assert "Acme Cloud" in email.text
    # The link is escaped as an attribute value and as text (the & becomes &amp;).
    assert 'href="https://app.example.com/verify?token=abc123&amp;x=1"' in email.html
    assert "<html" in email.html
    assert "valid for" not in email.text  # only said when the payload carries it


def test_text_part_keeps_the_link_on_one_line() -> None:
    long_link = "https://app.example.com/reset?token=" + "a" * 120
    text = render_email("password_reset", {"link": long_link}).text
    assert any(line.strip() == long_link for line in text.splitlines())
    assert all(len(line) <= 72 for line in text.splitlines() if long_link not in line)


def test_webhook_email_names_org_endpoint_and_reason() -> None:
    email = render_email("webhook_endpoint_disabled", PAYLOADS["webhook_endpoint_disabled"])
    assert "Acme" in email.subject
    for part in (email.text, email.html):
        assert "https://hooks.acme.example/in" in part
        assert "20 consecutive delivery failures" in part


def test_valid_for_is_mentioned_when_given() -> None:
    email = render_email("verify_email", {"link": LINK, "valid_for": "48 hours"})
    assert "valid for 48 hours" in email.text
    assert "valid for 48 hours" in email.html


def test_html_escapes_every_value() -> None:
    hostile = "<script>alert(\"x\")</script> & 'quoted'"
    email = render_email(
        "webhook_endpoint_disabled",
        {"org_name": hostile, "endpoint_url": hostile, "reason": hostile, "link": LINK, "valid_for": hostile},
        product_name=hostile,
    )
    assert "<script>" not in email.html
    assert 'alert("x")' not in email.html
    assert "'quoted'" not in email.html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;quoted&#x27;" in email.html
    # The text part is not HTML: it shows the value as typed.
    assert hostile in email.text


def test_link_with_quotes_cannot_break_out_of_the_attribute() -> None:
    email = render_email("verify_email", {"link": 'https://x.example/"onmouseover="alert(1)'})
    assert '"onmouseover="' not in email.html
    assert "&quot;onmouseover=&quot;" in email.html


def test_subject_is_a_single_line() -> None:
    payload = {**PAYLOADS["webhook_endpoint_disabled"], "org_name": "Acme\r\nBcc: victim@example.com"}
    subject = render_email("webhook_endpoint_disabled", payload).subject
    assert "\r" not in subject
    assert "\n" not in subject


def test_unknown_template() -> None:
    with pytest.raises(UnknownTemplateError):
        render_email("newsletter", {"link": LINK})
    assert issubclass(UnknownTemplateError, ValueError)


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("verify_email", {}),
        ("verify_email", {"link": 42}),
        ("verify_email", {"link": None}),
        ("verify_email", {"link": "  "}),
        (
            "webhook_endpoint_disabled",
            {"link": LINK, "org_name": "Acme", "endpoint_url": "https://h.example"},
        ),
        ("webhook_endpoint_disabled", {**PAYLOADS["webhook_endpoint_disabled"], "org_name": ["Acme"]}),
        ("password_reset", {"link": LINK, "valid_for": 48}),
    ],
)
def test_missing_or_wrongly_typed_value(name: str, payload: dict[str, Any]) -> None:
    with pytest.raises(TemplateDataError):
        render_email(name, payload)
    assert issubclass(TemplateDataError, ValueError)


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(1)",
        "JavaScript:alert(document.cookie)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "mailto:someone@example.com",
        "//evil.example/path",
        "/relative/path",
        "https://",
        "https://example.com/a b",
        "https://[::1/",
    ],
)
def test_non_http_links_are_refused(link: str) -> None:
    with pytest.raises(TemplateDataError):
        render_email("password_reset", {"link": link})


def test_http_and_https_links_are_accepted() -> None:
    assert "http://localhost:8000/x" in render_email("verify_email", {"link": "http://localhost:8000/x"}).text
    assert "HTTPS://EXAMPLE.COM/x" in render_email("verify_email", {"link": "HTTPS://EXAMPLE.COM/x"}).text
