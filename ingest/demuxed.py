"""What every source of a worker is: a PyAV input container and its first video and audio
streams, which are all the packagers and the transcoder have tracks for."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import av
from av.stream import Stream

log = logging.getLogger("headwater.worker")


class DemuxedSource:
    container: av.container.InputContainer

    @property
    def video(self) -> av.video.stream.VideoStream | None:
        return next(iter(self.container.streams.video), None)

    @property
    def audio(self) -> av.audio.stream.AudioStream | None:
        return next(iter(self.container.streams.audio), None)

    def close(self) -> None:
        self.container.close()

    def packets(self) -> Iterator[av.Packet[Stream]]:
        """Packets of the first video and audio streams in arrival order; demux flush packets
        (no data) and other streams (e.g. a TS data stream) are skipped.

        Filtered here, not by `demux(streams)`: with a stream list PyAV's demux ends a live
        HLS input as soon as its buffered segments run out.

        A stream that appears mid-input (FFmpeg's FLV demuxer makes one of a script tag
        with a non-zero timestamp; an MPEG-TS PMT may add one) is not in PyAV's stream list:
        PyAV skips its packets, then at the end of the input, flushing every stream FFmpeg
        knows, raises IndexError (PyAV 18, `av/container/input.py`). The input is over by
        then and nothing of ours is lost, so that is its end, not a crash."""
        wanted = {s.index for s in (self.video, self.audio) if s is not None}
        demuxed = self.container.demux()
        while True:
            try:
                packet = next(demuxed)
            except StopIteration:
                return
            except IndexError:
                log.warning("the input ended with a stream that appeared mid-input (skipped)")
                return
            if packet.stream.index in wanted and packet.size and packet.dts is not None:
                yield packet
