"""The worker's demux of a pushed input (ingest/pipe.py) on a real publish whose metadata a
publisher garbled: bytes PyAV cannot decode as UTF-8 in an `onMetaData` string made `av.open`
raise UnicodeDecodeError and the worker crash at every restart (found by bench/live_fuzz.py)."""

from __future__ import annotations

import struct
from pathlib import Path

from ingest.flv import flv_header, flv_tag
from ingest.media import DATA, MediaMessage
from ingest.pipe import next_source
from ingest.rtmp.chunk import ChunkReader
from ingest.rtmp.handshake import PACKET_SIZE

CAPTURE = Path(__file__).parent / "data" / "ffmpeg_publish.bin"  # ffmpeg 5.1: H.264 + AAC


class BytesInput:
    """A whole input at once, as the node's pipe would deliver it."""

    format = "flv"
    reprobed = False

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    @property
    def ended(self) -> bool:
        return self.position >= len(self.data)

    def read(self, size: int = -1) -> bytes:
        size = len(self.data) if size < 0 else size
        chunk = self.data[self.position : self.position + size]
        self.position += len(chunk)
        return chunk


def media_tags() -> bytes:
    reader = ChunkReader()
    reader.feed(CAPTURE.read_bytes()[1 + 2 * PACKET_SIZE :])
    tags = []
    while (message := reader.next_message()) is not None:
        if message.type_id == 1:
            reader.set_chunk_size(struct.unpack(">I", message.payload[:4])[0])
        elif message.type_id in (8, 9):
            tags.append(flv_tag(MediaMessage(message.type_id, message.timestamp, message.payload)))
    return b"".join(tags)


def test_metadata_that_is_not_utf8_opens():
    garbled = b"\x02\x00\x0aonMetaData\x08\x00\x00\x00\x01" + b"\x00\x05title\x02\x00\x02\xff\xfe" + b"\x00\x00\x09"
    data = flv_header() + flv_tag(MediaMessage(DATA, 0, garbled)) + media_tags()
    inputs = iter([BytesInput(data)])
    source = next_source(lambda: next(inputs, None))
    assert source is not None and source.video is not None
    source.close()
