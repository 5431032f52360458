"""Refuse webhook URLs that would reach the service's own networks (SSRF).

Two checks: `check_url_syntax` when an endpoint is registered (no DNS: the name may not resolve
from here yet), and `resolve_public` when a delivery connects, on the addresses actually used,
so a name that resolves somewhere private later (DNS rebinding) is refused then.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from urllib.parse import urlsplit

__all__ = ["UnsafeUrlError", "check_url_syntax", "is_public_address", "resolve_public"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_URL_LENGTH = 2048
_LOOPBACK_NAMES = ("localhost",)
_INTERNAL_SUFFIXES = (".localhost", ".internal", ".local", ".localdomain", ".home.arpa")
_INTERNAL_NAMES = ("localhost", "metadata.google.internal", "metadata")
# Forms some resolvers read as IPv4 that `ipaddress` does not: 2130706433, 0x7f.1, 0177.0.0.1.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}\.?$", re.IGNORECASE)
_BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, cloud metadata at 169.254.169.254
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "64:ff9b::/96",  # NAT64: may translate to any IPv4 address
        "fc00::/7",  # unique local, including the AWS metadata address fd00:ec2::254
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)


class UnsafeUrlError(ValueError):
    """The URL may not be used for webhooks; the message is safe to show the caller."""


def is_public_address(ip: IPAddress, *, allow_loopback: bool) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return is_public_address(embedded, allow_loopback=allow_loopback)
        if int(ip) >> 32 == 0 and int(ip) > 1:  # IPv4-compatible ::a.b.c.d (deprecated)
            return is_public_address(ipaddress.IPv4Address(int(ip)), allow_loopback=allow_loopback)
    if allow_loopback and ip.is_loopback:
        return True
    if any(ip in network for network in _BLOCKED_NETWORKS if network.version == ip.version):
        return False
    return ip.is_global and not (ip.is_private or ip.is_reserved or ip.is_multicast or ip.is_link_local)


def _host_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check_url_syntax(url: str, *, allow_loopback: bool) -> str:
    """The URL, if its form is acceptable for a webhook endpoint; `UnsafeUrlError` if not."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrlError(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise UnsafeUrlError("The URL contains spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeUrlError("The URL is not valid.") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrlError("The URL must start with https:// (or http://).")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrlError("The URL must not contain a user name or password.")
    if parts.fragment:
        raise UnsafeUrlError("The URL must not have a #fragment.")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UnsafeUrlError("The URL has no host.")
    if port is not None and not 1 <= port <= 65535:
        raise UnsafeUrlError("The URL's port is out of range.")
    ip = _host_ip(host)
    if ip is not None:
        if not is_public_address(ip, allow_loopback=allow_loopback):
            raise UnsafeUrlError("The URL points to a private, loopback or reserved address.")
        return url
    if _NUMERIC_HOST.match(host):
        raise UnsafeUrlError("Write IP addresses in the usual dotted form.")
    if allow_loopback and (host in _LOOPBACK_NAMES or host.endswith(".localhost")):
        return url
    if host in _INTERNAL_NAMES or host.endswith(_INTERNAL_SUFFIXES) or "." not in host:
        raise UnsafeUrlError("The URL points to an internal host name.")
    return url


async def resolve_public(host: str, port: int, *, allow_loopback: bool) -> list[str]:
    """The addresses `host` resolves to, if every one is public; else `UnsafeUrlError`."""
    ip = _host_ip(host.strip("[]"))
    if ip is not None:
        if not is_public_address(ip, allow_loopback=allow_loopback):
            raise UnsafeUrlError("The URL points to a private, loopback or reserved address.")
        return [str(ip)]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise UnsafeUrlError(f"The host {host!r} does not resolve.") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise UnsafeUrlError(f"The host {host!r} does not resolve.")
    for address in addresses:
        if not is_public_address(ipaddress.ip_address(address.split("%")[0]), allow_loopback=allow_loopback):
            raise UnsafeUrlError("The host resolves to a private, loopback or reserved address.")
    return addresses
