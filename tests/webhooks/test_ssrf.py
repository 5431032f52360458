"""Webhook URLs that would reach internal networks are refused, at registration and at connect.

No test here needs DNS beyond /etc/hosts: public names are never resolved.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

import pytest

from app.webhooks.ssrf import (
    MAX_URL_LENGTH,
    UnsafeUrlError,
    check_url_syntax,
    is_public_address,
    resolve_public,
)

REFUSED = [
    "http://127.0.0.1",
    "http://127.0.0.1/hook",
    "http://127.1/",
    "http://[::1]/hook",
    "http://10.0.0.1/hook",
    "http://172.16.5.4/hook",
    "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://[fd00:ec2::254]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::127.0.0.1]/",  # IPv4-compatible
    "http://[2002:c0a8:0101::]/",  # 6to4 around 192.168.1.1
    "http://[64:ff9b::a00:1]/",  # NAT64 around 10.0.0.1
    "http://[64:ff9b:1::8.8.8.8]/",  # local-use NAT64
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",  # Teredo
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fec0::1]/",
    "http://[ff02::1]/",
    "http://[::]/",
    "http://100.64.1.1/",
    "http://198.18.0.1/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://0.0.0.0/",
    "http://0/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://0x7f.1/",
    "http://127.0.0.01/",
    "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/",  # full-width digits fold into 127.0.0.1
    "http://user:pw@example.com/",
    "http://user@example.com/",
    "http://@example.com/",
    "http://example.com\\@127.0.0.1/",
    "ftp://example.com/",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "example.com/hook",
    "http://localhost/",
    "http://localhost./",
    "http://LOCALHOST/",
    "http://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54/",  # full-width "localhost"
    "http://api.localhost/",
    "http://metadata.google.internal/",
    "http://metadata/",
    "http://db.internal/",
    "http://intranet/",
    "http://printer.local/",
    "http://ex%61mple.com/",
    "http://a..b.com/",
    "https://example.com/#frag",
    "https://example.com/#",
    "https://exa mple.com/",
    "https://example.com/\x00",
    "https:///path-only",
    "https://example.com:99999/",
    "https://example.com:0/",
    "https://example.com:x/",
    "https://" + "a" * 64 + ".com/",  # DNS labels stop at 63 characters
    "https://example.com/" + "a" * MAX_URL_LENGTH,
]


@pytest.mark.parametrize("url", REFUSED)
def test_unsafe_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrlError) as caught:
        check_url_syntax(url, allow_loopback=False)
    assert str(caught.value).endswith(".")


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/hook",
        "http://93.184.216.34/x",
        "https://hooks.example.org:8443/a?b=c",
        "https://[2606:4700::1111]/hook",
        "https://[64:ff9b::5db8:d822]/",  # NAT64 around a public address
        "https://xn--bcher-kva.example/",
    ],
)
def test_public_urls_are_accepted(url: str) -> None:
    assert check_url_syntax(url, allow_loopback=False) == url


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("HTTPS://Example.COM/Hook", "https://example.com/Hook"),
        ("https://example.com:443/hook", "https://example.com/hook"),
        ("http://example.com:80/hook", "http://example.com/hook"),
        ("https://example.com.:8443/hook", "https://example.com:8443/hook"),
        ("https://bücher.example/", "https://xn--bcher-kva.example/"),
        ("https://[2606:4700:0::1111]/", "https://[2606:4700::1111]/"),
    ],
)
def test_urls_are_normalized(url: str, normalized: str) -> None:
    assert check_url_syntax(url, allow_loopback=False) == normalized


def test_the_length_limit() -> None:
    at_limit = "https://example.com/" + "a" * (MAX_URL_LENGTH - len("https://example.com/"))
    assert check_url_syntax(at_limit, allow_loopback=False) == at_limit
    with pytest.raises(UnsafeUrlError, match="longer"):
        check_url_syntax(at_limit + "a", allow_loopback=False)


def test_loopback_is_allowed_only_when_configured() -> None:
    assert check_url_syntax("http://127.0.0.1:9000/hook", allow_loopback=True)
    assert check_url_syntax("http://[::1]:9000/hook", allow_loopback=True)
    assert check_url_syntax("http://localhost:9000/hook", allow_loopback=True)
    assert check_url_syntax("http://api.localhost:9000/hook", allow_loopback=True)
    for url in (
        "http://10.1.2.3/hook",
        "http://169.254.169.254/",
        "http://metadata.google.internal/",
        "http://printer.local/",
        "http://intranet/",
        "http://2130706433/",
    ):
        with pytest.raises(UnsafeUrlError):
            check_url_syntax(url, allow_loopback=True)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("93.184.216.34", True),
        ("2606:4700::1111", True),
        ("::ffff:8.8.8.8", True),
        ("64:ff9b::808:808", True),
        ("2002:808:808::", True),
        ("127.0.0.1", False),
        ("127.255.255.254", False),
        ("10.0.0.1", False),
        ("172.31.255.255", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("100.127.255.254", False),
        ("198.18.0.1", False),
        ("198.19.255.254", False),
        ("192.0.2.1", False),  # documentation
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("0.0.0.0", False),  # noqa: S104 - an address to classify, not to bind
        ("::", False),
        ("::1", False),
        ("fc00::1", False),
        ("fd00:ec2::254", False),
        ("fe80::1", False),
        ("fec0::1", False),
        ("ff02::1", False),
        ("2001:db8::1", False),  # documentation
        ("::ffff:127.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("::10.0.0.1", False),
        ("64:ff9b::a00:1", False),
        ("64:ff9b:1::808:808", False),
        ("2002:c0a8:101::", False),
        ("2002:a9fe:a9fe::", False),  # 6to4 around the metadata address
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address), allow_loopback=False) is public


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),  # the same socket as 127.0.0.1
        ("64:ff9b::7f00:1", False),  # a NAT64 gateway's loopback is not ours
        ("2002:7f00:1::", False),
        ("10.0.0.1", False),
        ("169.254.169.254", False),
        ("0.0.0.0", False),  # noqa: S104 - an address to classify, not to bind
        ("::", False),
        ("fd00:ec2::254", False),
        ("8.8.8.8", True),
    ],
)
def test_allow_loopback_adds_loopback_only(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address), allow_loopback=True) is public


async def test_resolution_refuses_names_that_resolve_to_loopback() -> None:
    with pytest.raises(UnsafeUrlError, match="resolves to a private"):
        await resolve_public("localhost", 80, allow_loopback=False)
    addresses = await resolve_public("localhost", 80, allow_loopback=True)
    assert addresses
    assert all(ipaddress.ip_address(address).is_loopback for address in addresses)


async def test_resolution_of_literals_needs_no_dns() -> None:
    assert await resolve_public("93.184.216.34", 443, allow_loopback=False) == ["93.184.216.34"]
    assert await resolve_public("[2606:4700::1111]", 443, allow_loopback=False) == ["2606:4700::1111"]
    assert await resolve_public("127.0.0.1", 80, allow_loopback=True) == ["127.0.0.1"]
    for host in ("10.0.0.7", "169.254.169.254", "::ffff:127.0.0.1", "[::1]"):
        with pytest.raises(UnsafeUrlError):
            await resolve_public(host, 80, allow_loopback=False)
    with pytest.raises(UnsafeUrlError):
        await resolve_public("10.0.0.7", 80, allow_loopback=True)


async def test_names_that_do_not_resolve_are_refused() -> None:
    # Both fail before any DNS query: an empty host, and a name with an empty label.
    for host in ("", "bad..name"):
        with pytest.raises(UnsafeUrlError):
            await resolve_public(host, 80, allow_loopback=False)


def fake_resolver(answers: list[str]) -> Any:
    async def getaddrinfo(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        return [
            (socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))
            for ip in answers
        ]

    return getaddrinfo


async def test_one_private_answer_refuses_the_lot(monkeypatch: pytest.MonkeyPatch) -> None:
    """A resolver stand-in: real DNS would need the internet, and this is about the answers."""
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "getaddrinfo", fake_resolver(["93.184.216.34", "2606:4700::1111"]))
    assert await resolve_public("hooks.example", 443, allow_loopback=False) == [
        "93.184.216.34",
        "2606:4700::1111",
    ]
    monkeypatch.setattr(loop, "getaddrinfo", fake_resolver(["93.184.216.34", "93.184.216.34"]))
    assert await resolve_public("hooks.example", 443, allow_loopback=False) == ["93.184.216.34"]
    for mixed in (["93.184.216.34", "10.0.0.1"], ["169.254.169.254"], ["2606:4700::1111", "fe80::1%2"]):
        monkeypatch.setattr(loop, "getaddrinfo", fake_resolver(mixed))
        with pytest.raises(UnsafeUrlError, match="resolves to a private"):
            await resolve_public("rebind.example", 443, allow_loopback=False)
    monkeypatch.setattr(loop, "getaddrinfo", fake_resolver([]))
    with pytest.raises(UnsafeUrlError, match="does not resolve"):
        await resolve_public("empty.example", 443, allow_loopback=False)
