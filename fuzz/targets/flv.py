"""FLV tag inspection (ingest/flv.py) and the FLV feed built on it (server/media/flv_feed.py):
the media messages of a publisher, as RTMP delivers them, cut from the input as
`kind(1) length(2) payload` records."""

from __future__ import annotations

from fuzz.target import Target
from ingest import flv
from ingest.media import AUDIO, DATA, VIDEO, MediaMessage
from server.media.flv_feed import FlvFeed

KINDS = (AUDIO, VIDEO, DATA)


def messages(data: bytes) -> list[MediaMessage]:
    found, position = [], 0
    while position + 3 <= len(data):
        kind = KINDS[data[position] % 3]
        length = int.from_bytes(data[position + 1 : position + 3], "big")
        payload = data[position + 3 : position + 3 + length]
        found.append(MediaMessage(kind, position * 40, payload))
        position += 3 + length
    return found


def one(data: bytes) -> None:
    feed = FlvFeed()
    for index, message in enumerate(messages(data)):
        flv.unsupported_codec(message)
        flv.is_metadata(message)
        out = feed.bytes_for(message)
        assert len(out) <= 13 + 15 * 4 + 4 * len(data)  # header, tags: never more than was given
        if index % 7 == 6:
            feed.restart()


TARGET = Target("flv", one)
