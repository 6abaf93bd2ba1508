"""What every source of a worker is: a PyAV input container and its first video and audio
streams, which are all the packagers and the transcoder have tracks for."""

from __future__ import annotations

from collections.abc import Iterator

import av


class DemuxedSource:
    container: av.container.InputContainer

    @property
    def video(self) -> av.video.stream.VideoStream | None:
        return next(iter(self.container.streams.video), None)

    @property
    def audio(self) -> av.audio.stream.AudioStream | None:
        return next(iter(self.container.streams.audio), None)

    def packets(self) -> Iterator[av.Packet]:
        """Packets of the first video and audio streams in arrival order; demux flush packets
        (no data) and other streams (e.g. a TS data stream) are skipped.

        Filtered here, not by `demux(streams)`: with a stream list PyAV's demux ends a live
        HLS input as soon as its buffered segments run out."""
        wanted = {s.index for s in (self.video, self.audio) if s is not None}
        for packet in self.container.demux():
            if packet.stream.index in wanted and packet.size and packet.dts is not None:
                yield packet
