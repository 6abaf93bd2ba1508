"""A whole RTMP session (ingest/rtmp/session.py) after a valid handshake: chunks, commands,
AMF0, control messages, codec checks and media, with every publish accepted.

The session closes the connection on a protocol error (HandshakeError, ChunkError, Amf0Error,
a protocol violation), which is the declared outcome; its catch-all ("internal error") is the
crash this harness looks for, as is anything escaping `data_received`.
"""

from __future__ import annotations

import asyncio

from fuzz.target import Target
from ingest.media import MediaMessage
from ingest.publish import PublishRequest
from ingest.rtmp.handshake import PACKET_SIZE
from ingest.rtmp.session import RtmpSession, SessionLimits

HANDSHAKE = b"\x03" + bytes(2 * PACKET_SIZE)
LIMITS = SessionLimits(max_message_length=256 * 1024)
_loop = asyncio.new_event_loop()


class Sink:
    def __init__(self) -> None:
        self.written = 0

    def write(self, message: MediaMessage) -> None:
        self.written += len(message.payload)

    def close(self, reason: str) -> None:
        pass


async def _authorize(request: PublishRequest) -> Sink:
    return Sink()


class Transport(asyncio.Transport):
    """A socket as the session sees it: writes are dropped, close is remembered."""

    def __init__(self) -> None:
        super().__init__()
        self.closing = False

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("192.0.2.1", 50000) if name == "peername" else default

    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _replay(data: bytes) -> None:
    reasons: list[str] = []
    session = RtmpSession(_authorize, "rtmp", LIMITS, lambda _s: None)
    session.close = lambda reason, close=session.close: (reasons.append(reason), close(reason))  # type: ignore[method-assign]
    transport = Transport()
    session.connection_made(transport)
    session.data_received(HANDSHAKE)
    for start in range(0, len(data), 4096):
        if transport.closing:
            break
        session.data_received(data[start : start + 4096])
        for _ in range(3):  # let an authorization run and the session parse on
            await asyncio.sleep(0)
    session.connection_lost(None)
    assert not any(reason.startswith("internal error") for reason in reasons), reasons


def one(data: bytes) -> None:
    _loop.run_until_complete(_replay(data))


TARGET = Target("rtmp_session", one)
