"""WebRTC's UDP ports kept in a range, so a container or a firewall can publish them.

aioice binds each host candidate's socket to port 0 (any free port); behind Docker's port
mapping or a firewall nothing reaches those. `pin_udp_ports` makes one event loop's
`create_datagram_endpoint` take the first free port of the range instead, from a random
start (sessions starting together do not race for the same port).
"""

from __future__ import annotations

import asyncio
import errno
import random


def parse_port_range(text: str) -> tuple[int, int]:
    """ "40000-40099" → (40000, 40099); ValueError saying why otherwise."""
    low_text, dash, high_text = text.partition("-")
    if not dash or not low_text.strip().isdigit() or not high_text.strip().isdigit():
        raise ValueError(f"a UDP port range is written LOW-HIGH (e.g. 40000-40099), not {text!r}")
    low, high = int(low_text), int(high_text)
    if not 1024 <= low <= high <= 65535:
        raise ValueError(f"UDP ports {low}-{high}: want 1024 <= LOW <= HIGH <= 65535")
    return low, high


def pin_udp_ports(loop: asyncio.AbstractEventLoop, ports: tuple[int, int]) -> None:
    """Every datagram endpoint `loop` creates on port 0 gets a port of `ports` (inclusive)."""
    low, high = ports
    original = loop.create_datagram_endpoint

    async def within_range(protocol_factory, local_addr=None, **options):
        if not isinstance(local_addr, tuple) or local_addr[1] != 0:
            return await original(protocol_factory, local_addr=local_addr, **options)
        count = high - low + 1
        start = random.randrange(count)
        for step in range(count):
            port = low + (start + step) % count
            try:
                return await original(protocol_factory, local_addr=(local_addr[0], port), **options)
            except OSError as error:
                if error.errno != errno.EADDRINUSE:
                    raise
        raise OSError(errno.EADDRINUSE, f"no free UDP port in {low}-{high} on {local_addr[0]}")

    loop.create_datagram_endpoint = within_range  # type: ignore[method-assign,assignment]
