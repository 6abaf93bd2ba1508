"""The source of a pushed stream: FLV bytes the node writes into the worker's stdin."""

from __future__ import annotations

import os
from collections.abc import Iterator

import av

# Start demuxing after the first few tags instead of probing seconds of media.
DEMUX_OPTIONS = {"probesize": "4096", "analyzeduration": "0"}


class PipeReader:
    """A file object over a pipe whose read() returns whatever bytes have arrived.

    Waiting for the full requested size would hold packets back until the buffer fills,
    adding latency that grows as the bitrate falls.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def read(self, size: int = -1) -> bytes:
        return os.read(self.fd, size if size > 0 else 65536)


class FlvPipeSource:
    def __init__(self, fd: int = 0) -> None:
        self.container = av.open(PipeReader(fd), mode="r", format="flv", options=DEMUX_OPTIONS)

    @property
    def video(self) -> av.video.stream.VideoStream | None:
        return next(iter(self.container.streams.video), None)

    @property
    def audio(self) -> av.audio.stream.AudioStream | None:
        return next(iter(self.container.streams.audio), None)

    def packets(self) -> Iterator[av.Packet]:
        """Packets in arrival order; demux flush packets (no data) are skipped."""
        for packet in self.container.demux():
            if packet.size and packet.dts is not None:
                yield packet

    def close(self) -> None:
        self.container.close()
