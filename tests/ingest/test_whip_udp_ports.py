"""WebRTC's ICE sockets in a UDP port range (HEADWATER_WHIP_UDP_PORTS), and the host address
a WHIP answer also offers (HEADWATER_WHIP_PUBLIC_HOST)."""

from __future__ import annotations

import asyncio
import socket

import aioice
import pytest

from ingest.whip.udp_ports import parse_port_range, pin_udp_ports
from server.settings import Settings
from server.whip_sdp import with_public_host
from tests.support.ports import free_port


def free_range(size: int) -> tuple[int, int]:
    """`size` consecutive UDP ports, free a moment ago."""
    while True:
        low = free_port(socket.SOCK_DGRAM)
        if low + size <= 65535:
            return low, low + size - 1


async def test_aioice_gathers_its_host_candidates_within_the_range():
    low, high = free_range(3)
    pin_udp_ports(asyncio.get_running_loop(), (low, high))
    connection = aioice.Connection(ice_controlling=False)
    connection_two = aioice.Connection(ice_controlling=False)
    try:
        await connection.gather_candidates()
        await connection_two.gather_candidates()
        candidates = connection.local_candidates + connection_two.local_candidates
        assert candidates and all(low <= c.port <= high for c in candidates), (candidates, low, high)
        assert len({(c.host, c.port) for c in candidates}) == len(candidates)  # each socket its own address
    finally:
        await connection.close()
        await connection_two.close()


async def test_a_full_range_is_a_clear_error():
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("127.0.0.1", 0))
    port = blocker.getsockname()[1]
    loop = asyncio.get_running_loop()
    pin_udp_ports(loop, (port, port))
    try:
        with pytest.raises(OSError, match=f"no free UDP port in {port}-{port}"):
            await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    finally:
        blocker.close()


def test_port_ranges_and_hosts_are_checked_in_settings():
    assert parse_port_range("40000-40099") == (40000, 40099)
    for bad in ("40000", "40100-40000", "80-90", "a-b"):
        with pytest.raises(ValueError, match="LOW"):
            parse_port_range(bad)
    settings = Settings(whip_udp_ports="40000-40009", whip_public_host="203.0.113.7")
    assert settings.whip_udp_port_range == (40000, 40009)
    assert Settings(whip_udp_ports="", whip_public_host="").whip_udp_port_range is None
    with pytest.raises(ValueError, match="LOW-HIGH"):
        Settings(whip_udp_ports="40000")
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        Settings(whip_public_host="example.com")


def test_the_answer_offers_each_host_candidate_at_the_public_host_too():
    answer = "\r\n".join(
        [
            "v=0",
            "m=video 9 UDP/TLS/RTP/SAVPF 96",
            "a=candidate:6815297761 1 udp 659136 172.18.0.3 40004 typ host",
            "a=candidate:7a3c 1 udp 659135 fe80::1 40005 typ host",
            "a=end-of-candidates",
            "",
        ]
    )
    lines = with_public_host(answer, "203.0.113.7").split("\r\n")
    assert lines[3] == "a=candidate:6815297761p 1 udp 659135 203.0.113.7 40004 typ host"
    assert lines[5] == "a=candidate:7a3cp 1 udp 659134 203.0.113.7 40005 typ host"
    assert lines[-2:] == ["a=end-of-candidates", ""]
