"""The simple (unsigned) RTMP handshake, server side.

C0+C1 → S0+S1+S2 (S2 echoes C1), then C2 is read and ignored. Publishers such as ffmpeg
and OBS accept this form; the digest ("complex") handshake is only needed by Flash players.
"""

from __future__ import annotations

import os
import struct
import time

RTMP_VERSION = 3
PACKET_SIZE = 1536


class HandshakeError(Exception):
    """The peer did not speak the RTMP handshake."""


class ServerHandshake:
    """Feed received bytes; returns what to send; ``done`` once C2 has arrived.

    Bytes after C2 (the first chunks) are kept in ``leftover`` for the chunk reader.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._sent_s012 = False
        self.done = False
        self.leftover = b""

    def feed(self, data: bytes) -> bytes:
        self._buffer += data
        reply = b""
        if not self._sent_s012:
            if not self._buffer:
                return b""
            if self._buffer[0] != RTMP_VERSION:
                raise HandshakeError(f"unsupported RTMP version byte 0x{self._buffer[0]:02x}")
            if len(self._buffer) < 1 + PACKET_SIZE:
                return b""
            c1 = bytes(self._buffer[1 : 1 + PACKET_SIZE])
            del self._buffer[: 1 + PACKET_SIZE]
            self._sent_s012 = True
            reply = bytes((RTMP_VERSION,)) + _s1() + c1
        if len(self._buffer) >= PACKET_SIZE:
            self.leftover = bytes(self._buffer[PACKET_SIZE:])
            self._buffer.clear()
            self.done = True
        return reply


def _s1() -> bytes:
    uptime_ms = int(time.monotonic() * 1000) & 0xFFFFFFFF
    return struct.pack(">II", uptime_ms, 0) + os.urandom(PACKET_SIZE - 8)
