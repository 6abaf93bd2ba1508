"""The RTMP chunk stream: messages cut into chunks, interleaved over chunk stream ids.

ChunkReader is a pull parser over a growing buffer: the session feeds received bytes and
asks for complete messages one by one, so a SetChunkSize or Abort can take effect before
the next chunk is parsed, and parsing can pause (e.g. while a publish is being authorized)
without copying anything aside.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

DEFAULT_CHUNK_SIZE = 128
MAX_CHUNK_SIZE = 16 * 1024 * 1024  # the spec allows up to 0x7FFFFFFF; nobody sane needs that
# The 24-bit length field allows 16 MiB - 1; 8 MiB is far above any live encoder's frame
# (a 4K keyframe at 60 Mbit/s is a few MB) and halves what one hostile message can pin.
MAX_MESSAGE_LENGTH = 8 * 1024 * 1024
EXTENDED_TIMESTAMP = 0xFFFFFF

_COMPACT_THRESHOLD = 64 * 1024
_HEADER_SIZES = (11, 7, 3, 0)
_U24_U24_U8 = struct.Struct(">HBHBB")  # timestamp(24) + length(24) + type, as H+B pairs
_U32 = struct.Struct(">I")
_U32_LE = struct.Struct("<I")


class ChunkError(Exception):
    """The peer broke the chunk stream protocol (or exceeded our limits)."""


@dataclass(frozen=True, slots=True)
class RtmpMessage:
    type_id: int
    stream_id: int
    timestamp: int  # 32-bit as on the wire (wraps)
    payload: bytes
    csid: int = 0


class _ChunkStream:
    """Per chunk-stream-id state: the last header seen and the message being assembled."""

    __slots__ = (
        "extended",
        "length",
        "parts",
        "received",
        "started",
        "stream_id",
        "timestamp",
        "ts_field",
        "type_id",
    )

    def __init__(self) -> None:
        self.timestamp = 0
        self.ts_field = 0  # last timestamp/delta field, reused by fmt 3
        self.length = 0
        self.type_id = 0
        self.stream_id = 0
        self.extended = False
        self.parts: list[bytes] = []
        self.received = 0
        self.started = False  # a fmt 0 header has set this stream up


class ChunkReader:
    def __init__(self, max_message_length: int = MAX_MESSAGE_LENGTH, max_chunk_size: int = MAX_CHUNK_SIZE) -> None:
        self.chunk_size = DEFAULT_CHUNK_SIZE
        self.max_message_length = max_message_length
        self.max_chunk_size = max_chunk_size
        self._buffer = bytearray()
        self._pos = 0
        self._streams: dict[int, _ChunkStream] = {}
        # Bytes held in partly received messages over all chunk stream ids: without a
        # bound, a peer could start a big message on each of 65599 ids.
        self._assembling = 0
        self.max_assembling = 2 * max_message_length

    @property
    def buffered(self) -> int:
        """Bytes received but not yet consumed by complete chunks."""
        return len(self._buffer) - self._pos

    def feed(self, data: bytes) -> None:
        if self._pos == len(self._buffer):
            self._buffer.clear()
            self._pos = 0
        elif self._pos >= _COMPACT_THRESHOLD and self._pos * 2 >= len(self._buffer):
            del self._buffer[: self._pos]
            self._pos = 0
        self._buffer += data

    def set_chunk_size(self, size: int) -> None:
        """Apply the peer's SetChunkSize (the top bit must be 0, per spec)."""
        if not 1 <= size <= 0x7FFFFFFF:
            raise ChunkError(f"invalid chunk size {size}")
        if size > self.max_chunk_size:
            raise ChunkError(f"chunk size {size} above the limit {self.max_chunk_size}")
        self.chunk_size = size

    def abort(self, csid: int) -> None:
        """Drop the partly received message on ``csid`` (the Abort message)."""
        stream = self._streams.get(csid)
        if stream is not None:
            self._assembling -= stream.received
            stream.parts = []
            stream.received = 0

    def next_message(self) -> RtmpMessage | None:
        """Parse chunks until one message is complete; None when more bytes are needed."""
        while True:
            parsed = self._parse_chunk()
            if parsed is None:
                return None
            if parsed is not True:
                return parsed

    def _parse_chunk(self) -> RtmpMessage | Literal[True] | None:
        """Consume one chunk. Returns the message it completed, True if it completed none,
        or None if the buffer does not hold a whole chunk yet (nothing consumed)."""
        buf = self._buffer
        pos = self._pos
        available = len(buf) - pos
        if available < 1:
            return None
        first = buf[pos]
        fmt = first >> 6
        csid = first & 0x3F
        pos += 1
        if csid == 0:
            if available < 2:
                return None
            csid = 64 + buf[pos]
            pos += 1
        elif csid == 1:
            if available < 3:
                return None
            csid = 64 + buf[pos] + (buf[pos + 1] << 8)
            pos += 2
        header_size = _HEADER_SIZES[fmt]
        if len(buf) - pos < header_size:
            return None

        stream = self._streams.get(csid)
        if stream is None:
            if fmt != 0:
                raise ChunkError(f"chunk stream {csid} starts with a fmt {fmt} header")
            stream = self._streams[csid] = _ChunkStream()
        elif not stream.started and fmt != 0:
            raise ChunkError(f"chunk stream {csid} starts with a fmt {fmt} header")
        new_message = stream.received == 0

        if fmt == 0 or fmt == 1:
            ts_hi, ts_lo, len_hi, len_lo, type_id = _U24_U24_U8.unpack_from(buf, pos)
            ts_field = (ts_hi << 8) | ts_lo
            length = (len_hi << 8) | len_lo
            pos += 7
            if fmt == 0:
                (stream_id,) = _U32_LE.unpack_from(buf, pos)
                pos += 4
        elif fmt == 2:
            ts_field = (buf[pos] << 16) | (buf[pos + 1] << 8) | buf[pos + 2]
            pos += 3
        else:
            ts_field = stream.ts_field

        if fmt != 3:
            extended = ts_field == EXTENDED_TIMESTAMP
            if extended:
                if len(buf) - pos < 4:
                    return None
                (ts_field,) = _U32.unpack_from(buf, pos)
                pos += 4
        elif stream.extended:
            # Senders disagree on whether fmt 3 chunks repeat the extended timestamp (the
            # spec and ffmpeg say yes, old Flash servers no): take it only if it matches.
            if len(buf) - pos < 4:
                return None
            (repeated,) = _U32.unpack_from(buf, pos)
            if new_message or repeated == stream.ts_field:
                ts_field = repeated
                pos += 4

        if fmt != 3 and not new_message:
            raise ChunkError(f"chunk stream {csid}: new header in the middle of a message")

        if new_message:
            if fmt <= 1:
                if length > self.max_message_length:
                    raise ChunkError(f"message length {length} above the limit {self.max_message_length}")
                message_length = length
            else:
                message_length = stream.length
            remaining = message_length
        else:
            remaining = stream.length - stream.received
        size = min(remaining, self.chunk_size)
        if len(buf) - pos < size:
            return None

        # The chunk is complete: commit header state, then take the payload.
        if fmt == 0:
            stream.timestamp = ts_field
            stream.stream_id = stream_id
            stream.started = True
        elif new_message:
            stream.timestamp = (stream.timestamp + ts_field) & 0xFFFFFFFF
        if fmt <= 1:
            stream.length = length
            stream.type_id = type_id
        if fmt != 3:
            stream.extended = extended
        stream.ts_field = ts_field
        payload = bytes(buf[pos : pos + size])
        self._pos = pos + size

        if new_message and size == stream.length:
            return RtmpMessage(stream.type_id, stream.stream_id, stream.timestamp, payload, csid)
        stream.parts.append(payload)
        stream.received += size
        if stream.received < stream.length:
            self._assembling += size
            if self._assembling > self.max_assembling:
                raise ChunkError(f"{self._assembling} bytes of unfinished messages, above the limit")
            return True
        self._assembling -= stream.received - size
        body = b"".join(stream.parts)
        stream.parts = []
        stream.received = 0
        return RtmpMessage(stream.type_id, stream.stream_id, stream.timestamp, body, csid)


class ChunkWriter:
    """Cuts outgoing messages into chunks: fmt 0 for the first, fmt 3 for the rest."""

    def __init__(self) -> None:
        self.chunk_size = DEFAULT_CHUNK_SIZE

    def encode(self, csid: int, type_id: int, stream_id: int, timestamp: int, payload: bytes) -> bytes:
        timestamp &= 0xFFFFFFFF
        extended = timestamp >= EXTENDED_TIMESTAMP
        ts_field = EXTENDED_TIMESTAMP if extended else timestamp
        length = len(payload)
        if length > 0xFFFFFF:
            raise ValueError("RTMP message longer than 16 MiB - 1")
        ext = _U32.pack(timestamp) if extended else b""
        out = bytearray(_basic_header(0, csid))
        out += _U24_U24_U8.pack(ts_field >> 8, ts_field & 0xFF, length >> 8, length & 0xFF, type_id)
        out += _U32_LE.pack(stream_id)
        out += ext
        out += payload[: self.chunk_size]
        continuation = _basic_header(3, csid) + ext
        for offset in range(self.chunk_size, length, self.chunk_size):
            out += continuation
            out += payload[offset : offset + self.chunk_size]
        return bytes(out)


def _basic_header(fmt: int, csid: int) -> bytes:
    if 2 <= csid <= 63:
        return bytes(((fmt << 6) | csid,))
    if 64 <= csid <= 319:
        return bytes((fmt << 6, csid - 64))
    if 320 <= csid <= 65599:
        rest = csid - 64
        return bytes(((fmt << 6) | 1, rest & 0xFF, rest >> 8))
    raise ValueError(f"invalid chunk stream id {csid}")
