"""Refuse webhook URLs that would reach the service's own networks (SSRF).

Two checks: `check_url_syntax` when an endpoint is registered (no DNS: the name may not resolve
from here yet), and `resolve_public` when a delivery connects, on the addresses actually used,
so a name that resolves somewhere private later (DNS rebinding) is refused then.

Both http and https are accepted so local receivers work in development; production endpoints
should use https (the payload and its signature travel in clear over http).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from urllib.parse import urlsplit, urlunsplit

__all__ = ["MAX_URL_LENGTH", "UnsafeUrlError", "check_url_syntax", "is_public_address", "resolve_public"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_URL_LENGTH = 2048
_DEFAULT_PORTS = {"http": 80, "https": 443}
_INTERNAL_NAMES = ("localhost", "metadata.google.internal", "metadata")
_INTERNAL_SUFFIXES = (".localhost", ".internal", ".local", ".localdomain", ".home.arpa")
_HOSTNAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")
# Forms some resolvers read as IPv4 that `ipaddress` does not: 2130706433, 0x7f.1, 0177.0.0.1.
_NUMERIC_HOST = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}", re.IGNORECASE)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
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
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "64:ff9b:1::/48",  # local-use NAT64: translates into the operator's own networks
        "2001::/32",  # Teredo: tunnels to an address we cannot check
        "fc00::/7",  # unique local, including the AWS metadata address fd00:ec2::254
        "fe80::/10",
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",
    )
)


class UnsafeUrlError(ValueError):
    """The URL may not be used for webhooks; the message is safe to show the caller."""


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, bool] | None:
    """The IPv4 address an IPv6 one stands for, and whether the local kernel would use it directly."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, True
    if int(ip) >> 32 == 0 and int(ip) > 1:  # IPv4-compatible ::a.b.c.d (deprecated)
        return ipaddress.IPv4Address(int(ip)), True
    if ip in _NAT64:  # a NAT64 gateway forwards to the embedded address
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), False
    if ip.sixtofour is not None:
        return ip.sixtofour, False
    return None


def is_public_address(ip: IPAddress, *, allow_loopback: bool) -> bool:
    """Whether a webhook may connect to `ip`: globally routable and not special-purpose."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            address, local = embedded
            # Loopback behind a gateway is the gateway's, so only local forms get the exception.
            return is_public_address(address, allow_loopback=allow_loopback and local)
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


def _ascii_host(host: str) -> str:
    """The host as the resolver will see it: IDNA-encoded, so look-alikes of internal names fold."""
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise UnsafeUrlError("The URL's host name is not valid.") from None
    if not _HOSTNAME.fullmatch(ascii_host):
        raise UnsafeUrlError("The URL's host name is not valid.")
    return ascii_host


def _checked_host(raw_host: str, *, allow_loopback: bool) -> str:
    """The normalized host (IPv6 in brackets) if it may be used; `UnsafeUrlError` if not."""
    host = raw_host.rstrip(".")
    if not host:
        raise UnsafeUrlError("The URL has no host.")
    ip = _host_ip(host)
    if ip is None and ":" not in host:
        host = _ascii_host(host)
        ip = _host_ip(host)  # full-width digits fold into an address
    if ip is not None:
        if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
            raise UnsafeUrlError("The URL's address must not name a network interface.")
        if not is_public_address(ip, allow_loopback=allow_loopback):
            raise UnsafeUrlError("The URL points to a private, loopback or reserved address.")
        return f"[{ip}]" if ip.version == 6 else str(ip)
    if ":" in host:
        raise UnsafeUrlError("The URL's host name is not valid.")
    if _NUMERIC_HOST.fullmatch(host):
        raise UnsafeUrlError("Write IP addresses in the usual dotted form.")
    if allow_loopback and (host == "localhost" or host.endswith(".localhost")):
        return host
    if host in _INTERNAL_NAMES or host.endswith(_INTERNAL_SUFFIXES) or "." not in host:
        raise UnsafeUrlError("The URL points to an internal host name.")
    return host


def check_url_syntax(url: str, *, allow_loopback: bool) -> str:
    """The normalized URL if its form is acceptable for a webhook endpoint; `UnsafeUrlError` if not.

    No DNS here: names are checked again, on their resolved addresses, when a delivery connects.
    """
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrlError(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise UnsafeUrlError("The URL contains spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeUrlError("The URL is not valid.") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise UnsafeUrlError("The URL must start with https:// (or http://).")
    if "@" in parts.netloc:
        raise UnsafeUrlError("The URL must not contain a user name or password.")
    if parts.fragment or url.endswith("#"):
        raise UnsafeUrlError("The URL must not have a #fragment.")
    if port is not None and not 1 <= port <= 65535:
        raise UnsafeUrlError("The URL's port is out of range.")
    host = _checked_host(parts.hostname or "", allow_loopback=allow_loopback)
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path, parts.query, ""))


async def resolve_public(host: str, port: int, *, allow_loopback: bool) -> list[str]:
    """The addresses `host` resolves to, if every one is public; else `UnsafeUrlError`.

    One private answer among public ones refuses the lot: mixing them is a DNS rebinding trick.
    """
    bare = host.strip("[]")
    ip = _host_ip(bare)
    if ip is not None:
        if not is_public_address(ip, allow_loopback=allow_loopback):
            raise UnsafeUrlError("The URL points to a private, loopback or reserved address.")
        return [str(ip)]
    if not bare:
        raise UnsafeUrlError("The URL has no host.")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(bare, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UnsafeUrlError(f"The host {bare!r} does not resolve.") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise UnsafeUrlError(f"The host {bare!r} does not resolve.")
    for address in addresses:
        if not is_public_address(ipaddress.ip_address(address.split("%")[0]), allow_loopback=allow_loopback):
            raise UnsafeUrlError("The host resolves to a private, loopback or reserved address.")
    return addresses
