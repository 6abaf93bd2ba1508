"""The server side of the RTMP handshake (ingest/rtmp/handshake.py), fed in two pieces."""

from __future__ import annotations

from fuzz.target import Target
from ingest.rtmp.handshake import PACKET_SIZE, HandshakeError, ServerHandshake


def one(data: bytes) -> None:
    handshake = ServerHandshake()
    cut = data[0] * 13 % (len(data) + 1) if data else 0
    replies = handshake.feed(data[:cut]) + handshake.feed(data[cut:])
    assert len(replies) in (0, 1 + 2 * PACKET_SIZE)
    if handshake.done:
        assert handshake.leftover == data[1 + 2 * PACKET_SIZE :]


TARGET = Target("rtmp_handshake", one, (HandshakeError,))
