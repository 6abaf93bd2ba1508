"""WHIP video at the resolution it started with: passthrough until the browser changes it.

Browsers lower the resolution when bandwidth or CPU runs short. The packagers' init segments
and the master playlist describe the first resolution, so from the first keyframe at another
size on, the video is decoded, scaled back to the initial size and re-encoded with x264;
before that (the usual case) it passes through untouched. Each keyframe's size is read by
decoding that keyframe alone (an IDR access unit is self-contained), about one small decode
per segment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from fractions import Fraction

import av

log = logging.getLogger("headwater.whip")

VIDEO_TIME_BASE = Fraction(1, 90000)
X264_OPTIONS = {"preset": "veryfast", "tune": "zerolatency", "bf": "0"}


def keyframe_size(packet: av.Packet) -> tuple[int, int] | None:
    """(width, height) of a keyframe access unit, decoded on its own; None if it won't decode."""
    decoder = av.CodecContext.create("h264", "r")
    try:
        frames = decoder.decode(av.Packet(bytes(packet))) + decoder.decode(None)
    except av.error.FFmpegError:
        return None
    return (frames[0].width, frames[0].height) if frames else None


class InitialResolution:
    """Feeds `mux` the H.264 packets of a WebRTC track, all at the first keyframe's size."""

    def __init__(self, mux: Callable[[av.Packet], None], *, keyframe_interval: float = 2.0) -> None:
        self.mux = mux
        self.keyframe_interval = keyframe_interval
        self.size: tuple[int, int] | None = None
        self.decoder: av.CodecContext | None = None
        self.encoder: av.VideoCodecContext | None = None
        self.scaler: av.video.reformatter.VideoReformatter | None = None

    @property
    def reencoding(self) -> bool:
        return self.encoder is not None

    def push(self, packet: av.Packet) -> None:
        """`packet`: one access unit, pts/dts on the session clock (1/90000)."""
        if packet.is_keyframe and not self.reencoding:
            size = keyframe_size(packet)
            if self.size is None:
                self.size = size
            elif size is not None and size != self.size:
                log.info(
                    "the peer changed its video from %dx%d to %dx%d; re-encoding at %dx%d",
                    *self.size,
                    *size,
                    *self.size,
                )
                self._start_reencoding()
        if not self.reencoding:
            self.mux(packet)
            return
        for frame in self.decoder.decode(packet):
            self._encode(frame)

    def _start_reencoding(self) -> None:
        width, height = self.size
        self.decoder = av.CodecContext.create("h264", "r")
        self.scaler = av.video.reformatter.VideoReformatter()
        encoder = av.CodecContext.create("libx264", "w")
        encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
        encoder.time_base = VIDEO_TIME_BASE
        encoder.framerate = Fraction(30)
        encoder.gop_size = round(30 * self.keyframe_interval)
        encoder.options = X264_OPTIONS
        self.encoder = encoder

    def _encode(self, frame: av.VideoFrame) -> None:
        width, height = self.size
        scaled = self.scaler.reformat(frame, width=width, height=height, format="yuv420p")
        scaled.pts, scaled.time_base = frame.pts, VIDEO_TIME_BASE
        for packet in self.encoder.encode(scaled):
            packet.dts = packet.pts  # no B-frames
            packet.time_base = VIDEO_TIME_BASE
            self.mux(packet)
