"""Email content: a subject, a plain-text part and an HTML part for each template.

Plain Python string templates keep this dependency-free. Payload values are untrusted (an org
name or a webhook URL is typed by a user), so every value is HTML-escaped in the HTML part and
the call-to-action link must be http(s): a `javascript:` link in a button would run in webmail.
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import msgspec

__all__ = ["RenderedEmail", "TemplateDataError", "UnknownTemplateError", "render_email", "template_names"]

_TEXT_WIDTH = 72


class UnknownTemplateError(ValueError):
    """No template has this name."""


class TemplateDataError(ValueError):
    """The payload lacks a required value, or a value is unusable (a non-http link)."""


class RenderedEmail(msgspec.Struct, frozen=True):
    subject: str
    text: str
    html: str


@dataclass(frozen=True, slots=True)
class _Template:
    """Wording with `{placeholders}`; `{product}` is always available, other keys come from `required`."""

    subject: str
    paragraphs: tuple[str, ...]
    action: str
    closing: str = ""
    required: tuple[str, ...] = ()


_TEMPLATES: dict[str, _Template] = {
    "verify_email": _Template(
        subject="Confirm your email address for {product}",
        paragraphs=(
            "Welcome to {product}! Please confirm your email address to finish setting up your account.",
        ),
        action="Confirm email address",
        closing="If you did not sign up for {product}, you can ignore this email.",
    ),
    "password_reset": _Template(
        subject="Reset your {product} password",
        paragraphs=("We received a request to reset the password of your {product} account.",),
        action="Choose a new password",
        closing="If you did not ask for this, you can ignore this email: your password stays unchanged.",
    ),
    "org_invitation": _Template(
        subject="You are invited to join an organization on {product}",
        paragraphs=("You have been invited to join an organization on {product}.",),
        action="Accept the invitation",
        closing="If you were not expecting this invitation, you can ignore this email.",
    ),
    "webhook_endpoint_disabled": _Template(
        subject="A webhook endpoint of {org_name} was disabled",
        paragraphs=(
            "We stopped sending events to a webhook endpoint of {org_name} on {product}.",
            "Endpoint: {endpoint_url}",
            "Reason: {reason}",
            "Once the endpoint works again, you can re-enable it from its settings page.",
        ),
        action="Review the endpoint",
        required=("org_name", "endpoint_url", "reason"),
    ),
}


def template_names() -> frozenset[str]:
    """The names `render_email` accepts."""
    return frozenset(_TEMPLATES)


def render_email(template: str, payload: Mapping[str, Any], *, product_name: str = "App") -> RenderedEmail:
    """Render the named template; raises UnknownTemplateError or TemplateDataError."""
    spec = _TEMPLATES.get(template)
    if spec is None:
        raise UnknownTemplateError(f"unknown email template {template!r}")
    values = {key: _required_str(payload, key) for key in spec.required}
    values["product"] = product_name
    link = _safe_link(_required_str(payload, "link"))
    valid_for = payload.get("valid_for")
    if valid_for is not None and (not isinstance(valid_for, str) or not valid_for.strip()):
        raise TemplateDataError("payload value 'valid_for' must be a non-empty string")

    # Subjects are one header line: fold any whitespace run (a newline in an org name) to a space.
    subject = " ".join(spec.subject.format_map(values).split())
    paragraphs = [p.format_map(values) for p in spec.paragraphs]
    notes = [f"This link is valid for {valid_for}."] if valid_for else []
    if spec.closing:
        notes.append(spec.closing.format_map(values))
    signature = f"The {product_name} team"
    return RenderedEmail(
        subject=subject,
        text=_text(paragraphs, action=spec.action, link=link, notes=notes, signature=signature),
        html=_html(subject, paragraphs, action=spec.action, link=link, notes=notes, signature=signature),
    )


def _required_str(payload: Mapping[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value.strip():
        raise TemplateDataError(f"payload value {key!r} is missing or not a non-empty string")
    return value


def _safe_link(link: str) -> str:
    """Accept only absolute http(s) URLs without whitespace or control characters."""
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in link):
        raise TemplateDataError("link must not contain whitespace or control characters")
    try:
        parts = urlsplit(link)
    except ValueError as exc:  # e.g. a malformed IPv6 host
        raise TemplateDataError("link is not a valid URL") from exc
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        raise TemplateDataError("link must be an absolute http(s) URL")
    return link


def _wrap(paragraph: str) -> str:
    # Never split a URL across lines: a terminal user must be able to copy it whole.
    return textwrap.fill(paragraph, width=_TEXT_WIDTH, break_long_words=False, break_on_hyphens=False)


def _text(paragraphs: list[str], *, action: str, link: str, notes: list[str], signature: str) -> str:
    blocks = ["Hello,", *(_wrap(p) for p in paragraphs), f"{action}:\n\n    {link}"]
    blocks += [_wrap(note) for note in notes]
    blocks.append(signature)
    return "\n\n".join(blocks) + "\n"


_P = '<p style="margin:0 0 16px">{}</p>'
_BUTTON = (
    '<p style="margin:24px 0"><a href="{href}" style="background:#2563eb;color:#ffffff;'
    'padding:12px 20px;border-radius:6px;text-decoration:none;display:inline-block">{label}</a></p>'
)
_FALLBACK = (
    '<p style="margin:0 0 16px;font-size:13px;color:#555555">If the button does not work, copy this link '
    'into your browser:<br><a href="{href}" style="color:#2563eb;word-break:break-all">{href}</a></p>'
)


def _html(
    subject: str, paragraphs: list[str], *, action: str, link: str, notes: list[str], signature: str
) -> str:
    def esc(value: str) -> str:
        return html.escape(value, quote=True)

    href = esc(link)
    body = [
        _P.format("Hello,"),
        *(_P.format(esc(p)) for p in paragraphs),
        _BUTTON.format(href=href, label=esc(action)),
        _FALLBACK.format(href=href),
        *(_P.format(esc(note)) for note in notes),
        _P.format(esc(signature)),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{esc(subject)}</title>\n</head>\n"
        '<body style="margin:0;padding:24px;font-family:Arial,Helvetica,sans-serif;'
        'font-size:15px;line-height:1.5;color:#1f2937">\n'
        '<div style="max-width:560px;margin:0 auto">\n' + "\n".join(body) + "\n</div>\n</body>\n</html>\n"
    )
