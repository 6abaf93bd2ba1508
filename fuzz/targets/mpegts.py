"""The MPEG-TS scanning an SRT publisher's bytes go through (ingest/mpegts.py via
server/media/ts_feed.py): packet headers, PAT and PMT, the resume at a keyframe."""

from __future__ import annotations

from fuzz.target import Target
from ingest.mpegts import PACKET_SIZE, packet_header, pmt_pid, video_pid
from server.media.ts_feed import TsFeed


def one(data: bytes) -> None:
    feed = TsFeed()
    given = 0
    for start in range(0, len(data), 1316):  # SRT's usual payload: 7 packets
        chunk = data[start : start + 1316]
        given += len(chunk)
        out = feed.bytes_for(chunk)
        assert len(out) <= given + 2 * PACKET_SIZE  # the chunk, with PAT and PMT in front
        assert len(feed.carry) < PACKET_SIZE
        if start % 13160 == 6580:
            feed.restart()
    for start in range(0, len(data) - PACKET_SIZE + 1, PACKET_SIZE):
        header = packet_header(data[start : start + PACKET_SIZE])
        pmt_pid(header.payload)
        video_pid(header.payload)


TARGET = Target("mpegts", one)
