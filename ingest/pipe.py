"""The source of a pushed stream: FLV (RTMP) or MPEG-TS (SRT) inputs that arrive one after another.

The node relays a publisher's bytes to the worker; the worker splits its stdin into inputs
(`transcode/pipe_input.py`, the contract's records), one at each switch between the stream's
main and backup publishers, and each input is demuxed here by PyAV.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Protocol

import av
from av.stream import Stream

from ingest.demuxed import DemuxedSource

log = logging.getLogger("headwater.worker")

# Start demuxing after the first few tags instead of probing seconds of media. MPEG-TS has
# no header: the demuxer must see the codec parameters in the stream itself (SPS/PPS of the
# first keyframe, the first AAC frame), which the node's TS feed puts first.
DEMUX_OPTIONS = {
    "flv": {"probesize": "4096", "analyzeduration": "0"},
    "mpegts": {"probesize": "2000000", "analyzeduration": "1000000", "fpsprobesize": "0"},
}


class PushedInput(Protocol):
    """One input as PyAV reads it: a file object that reports EOF at the input's end."""

    format: str  # "flv" or "mpegts"
    reprobed: bool  # opened again after a probe that did not tell its streams

    @property
    def ended(self) -> bool: ...

    def read(self, size: int = -1) -> bytes: ...


class PipeSource(DemuxedSource):
    """One input demuxed by PyAV: FLV (RTMP) or MPEG-TS (SRT)."""

    def __init__(self, reader: PushedInput) -> None:
        self.format = reader.format
        # A publisher's metadata strings need not be UTF-8; PyAV's default (strict) made
        # `av.open` raise on them, and the worker crash at each restart.
        self.container = av.open(
            reader,
            mode="r",
            format=reader.format,
            options=DEMUX_OPTIONS[reader.format],
            metadata_errors="replace",
        )
        self.closed = False

    @property
    def complete(self) -> bool:
        """Whether the demuxer learnt every stream's parameters. An input that ended while
        being probed (the node switched away within a fraction of a second) may leave
        a size or a sample rate unknown, which no muxer accepts."""
        video, audio = self.video, self.audio
        if video is None and audio is None:
            return False
        if video is not None and not (video.codec_context.width and video.codec_context.height):
            return False
        return audio is None or bool(audio.codec_context.sample_rate)

    def packets(self) -> Iterator[av.Packet[Stream]]:
        """The source's packets from the first video keyframe on (all of them, without video):
        a switched-to input may begin mid-GOP."""
        video = self.video
        started = video is None
        for packet in super().packets():
            if not started:
                if video is None or packet.stream.index != video.index or not packet.is_keyframe:
                    continue
                started = True
            yield packet

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.container.close()


def next_source(next_input: Callable[[], PushedInput | None]) -> PipeSource | None:
    """The next input whose streams are fully known (see `PipeSource.complete`); None once
    `next_input()` has no more.

    An input still going whose first bytes did not tell is probed again where the last probe
    stopped, until it tells or ends: an MPEG-TS encoder that flags no random access point is
    started by the node at any PAT (`server/media/ts_feed.py`), and its first SPS may come with
    a keyframe seconds later."""
    reader = next_input()
    while reader is not None:
        try:
            source = PipeSource(reader)
        except av.error.FFmpegError as error:
            log.warning("skipping a %s input that could not be opened: %s", reader.format, error)
            reader = next_input()
            continue
        if source.complete:
            return source
        source.close()
        if reader.ended:
            log.warning("skipping a %s input that ended before its streams were known", reader.format)
            reader = next_input()
        elif not reader.reprobed:
            log.warning(
                "the %s input's first bytes do not tell its streams (no keyframe yet?); probing on", reader.format
            )
            reader.reprobed = True
    return None
