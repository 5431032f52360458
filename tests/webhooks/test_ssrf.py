"""Webhook URLs that would reach internal networks are refused, at registration and at connect."""

from __future__ import annotations

import ipaddress

import pytest

from app.webhooks.ssrf import UnsafeUrlError, check_url_syntax, is_public_address, resolve_public

REFUSED = [
    "http://127.0.0.1/hook",
    "http://[::1]/hook",
    "http://10.0.0.1/hook",
    "http://172.16.5.4/hook",
    "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://[fd00:ec2::254]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[2002:c0a8:0101::]/",  # 6to4 around 192.168.1.1
    "http://[64:ff9b::a00:1]/",  # NAT64
    "http://[fe80::1]/",
    "http://100.64.1.1/",
    "http://198.18.0.1/",
    "http://0.0.0.0/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://0x7f.1/",
    "http://user:pw@example.com/",
    "ftp://example.com/",
    "file:///etc/passwd",
    "http://localhost/",
    "http://api.localhost/",
    "http://metadata.google.internal/",
    "http://intranet/",
    "http://printer.local/",
    "https://example.com/#frag",
    "https://exa mple.com/",
    "https:///path-only",
    "https://example.com:99999/",
]


@pytest.mark.parametrize("url", REFUSED)
def test_unsafe_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrlError):
        check_url_syntax(url, allow_loopback=False)


@pytest.mark.parametrize(
    "url", ["https://example.com/hook", "http://93.184.216.34/x", "https://hooks.example.org:8443/a?b=c"]
)
def test_public_urls_are_accepted(url: str) -> None:
    assert check_url_syntax(url, allow_loopback=False) == url


def test_loopback_is_allowed_only_when_configured() -> None:
    assert check_url_syntax("http://127.0.0.1:9000/hook", allow_loopback=True)
    assert check_url_syntax("http://localhost:9000/hook", allow_loopback=True)
    with pytest.raises(UnsafeUrlError):
        check_url_syntax("http://10.1.2.3/hook", allow_loopback=True)  # private stays refused


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("::ffff:8.8.8.8", True),
        ("fc00::1", False),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address), allow_loopback=False) is public


async def test_resolution_refuses_names_that_resolve_to_loopback() -> None:
    with pytest.raises(UnsafeUrlError):
        await resolve_public("localhost", 80, allow_loopback=False)
    assert await resolve_public("localhost", 80, allow_loopback=True)
    with pytest.raises(UnsafeUrlError):
        await resolve_public("10.0.0.7", 80, allow_loopback=True)
    with pytest.raises(UnsafeUrlError):
        await resolve_public("no-such-host.invalid", 80, allow_loopback=False)
