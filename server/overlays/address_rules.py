"""Which addresses an overlay page may reach: the renderer fetches URLs chosen by API users,
so by default nothing but the public internet (no loopback, link-local, private, shared
carrier-grade NAT, reserved or cloud-metadata addresses). `HEADWATER_OVERLAY_ALLOW_PRIVATE=1`
lifts the rule (a node whose overlay pages live on its own network; the tests).

The rule is applied to the resolved address of every request the page makes, redirects
included (the renderer's route handler), not to the URL's host name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

SCHEMES = ("http", "https")
# Cloud metadata services outside the ranges `is_global` already refuses (AWS's IPv6 one).
METADATA = (ipaddress.ip_network("fd00:ec2::254/128"),)

Refuses = Callable[[ipaddress.IPv4Address | ipaddress.IPv6Address], bool]


class Refused(Exception):
    """A URL the rule refuses; the message says why (for the log line)."""


def refuses_private(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast or any(address in net for net in METADATA)


def refuses_nothing(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return False


def address_rule(allow_private: bool) -> Refuses:
    return refuses_nothing if allow_private else refuses_private


async def check_url(url: str, refuses: Refuses) -> None:
    """Raise `Refused` unless `url` is http(s) and every address its host resolves to is allowed."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise Refused(f"scheme {parts.scheme or '(none)'!r} is not http or https")
    host = parts.hostname
    if not host:
        raise Refused("no host")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except OSError as error:
        raise Refused(f"{host} does not resolve: {error}") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if refuses(address):
            raise Refused(f"{host} resolves to {address}, a non-public address")
