"""The RTMP chunk stream reader (ingest/rtmp/chunk.py), with SetChunkSize and Abort applied
as the session does, and a small message limit so the limits are reached."""

from __future__ import annotations

import struct

from fuzz.target import Target
from ingest.rtmp.chunk import ChunkError, ChunkReader

MAX_MESSAGE = 64 * 1024


def one(data: bytes) -> None:
    reader = ChunkReader(max_message_length=MAX_MESSAGE, max_chunk_size=MAX_MESSAGE)
    for start in range(0, len(data), 1000):  # as a socket delivers it: in pieces
        reader.feed(data[start : start + 1000])
        while (message := reader.next_message()) is not None:
            assert len(message.payload) <= MAX_MESSAGE
            if message.type_id in (1, 2) and len(message.payload) >= 4:
                (value,) = struct.unpack_from(">I", message.payload)
                reader.set_chunk_size(value) if message.type_id == 1 else reader.abort(value)
        assert reader._assembling <= reader.max_assembling
        assert reader.buffered <= len(data)


TARGET = Target("rtmp_chunk", one, (ChunkError,))
