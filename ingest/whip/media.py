"""What the WHIP worker does to aiortc's media: keep H.264 encoded, remux it with AAC to TS.

aiortc decodes every received frame by default (≈ 14 % of a core for 720p30). The worker
swaps in a decoder that hands the depayloaded H.264 access unit (Annex B, as aiortc builds
it) on as an `av.Packet`, so video passes through untouched; Opus is decoded by aiortc and
encoded to AAC here, since Opus in fMP4 HLS plays poorly on Safari. Both go into one MPEG-TS
stream on a pipe that the worker's usual demux → hub → packagers path reads, so WHIP reuses
the push path's packaging unchanged. This relies on aiortc internals: the version is pinned.
"""

from __future__ import annotations

import os
import time
from fractions import Fraction

import aiortc.rtcrtpreceiver
import av
from aiortc.codecs import get_decoder as aiortc_get_decoder

from ingest.whip.video import InitialResolution

VIDEO_TIME_BASE = Fraction(1, 90000)
AUDIO_RATE = 48000
AUDIO_TIME_BASE = Fraction(1, AUDIO_RATE)
AAC_BITRATE = 128_000
IDR = 5
RTP_WRAP = 1 << 32


def has_idr(access_unit: bytes) -> bool:
    """Whether an Annex B access unit holds an IDR slice (a point players can start from)."""
    index = access_unit.find(b"\x00\x00\x01")
    while index != -1 and index + 3 < len(access_unit):
        if access_unit[index + 3] & 0x1F == IDR:
            return True
        index = access_unit.find(b"\x00\x00\x01", index + 3)
    return False


class H264Passthrough:
    """aiortc's Decoder interface, returning the encoded access unit instead of frames."""

    def decode(self, encoded_frame) -> list[av.Packet]:
        packet = av.Packet(encoded_frame.data)
        packet.pts = packet.dts = encoded_frame.timestamp
        packet.time_base = VIDEO_TIME_BASE
        packet.is_keyframe = has_idr(encoded_frame.data)
        return [packet]


def passthrough_decoder(codec):
    if codec.mimeType.lower() == "video/h264":
        return H264Passthrough()
    return aiortc_get_decoder(codec)


def keep_h264_encoded() -> None:
    """Make aiortc's receivers (in this process) pass H.264 through instead of decoding it."""
    aiortc.rtcrtpreceiver.get_decoder = passthrough_decoder


class RtpClock:
    """A track's RTP timestamps unwrapped and placed on the session's wall clock.

    The two tracks' RTP clocks start at random values; anchoring each track's first
    timestamp to its arrival time (since `origin`) lines audio and video up to within the
    network jitter, without RTCP sender reports.
    """

    def __init__(self, origin: float, rate: int) -> None:
        self.origin = origin
        self.rate = rate
        self.first: int | None = None
        self.last = 0
        self.wraps = 0
        self.shift = 0

    def place(self, timestamp: int) -> int:
        if self.first is None:
            self.first = self.last = timestamp
            self.shift = round((time.monotonic() - self.origin) * self.rate) - timestamp
        if timestamp < self.last and self.last - timestamp > RTP_WRAP // 2:
            self.wraps += 1
        self.last = timestamp
        return timestamp + self.wraps * RTP_WRAP + self.shift


class PipeWriter:
    """A write-only file object over a pipe fd that writes every byte it is given."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, data) -> int:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        return len(data)

    def close(self) -> None:
        os.close(self.fd)


class TsRemuxer:
    """H.264 packets (passed through, or re-encoded once the size changes: `InitialResolution`)
    and audio frames (encoded to AAC) → MPEG-TS on a pipe.

    Call from one thread (the aiortc loop's). Video waits for its first IDR, so the reader's
    probe finds the SPS at once.
    """

    def __init__(self, fd: int, *, keyframe_interval: float = 2.0) -> None:
        self.origin = time.monotonic()
        self.pipe = PipeWriter(fd)
        self.container = av.open(self.pipe, "w", format="mpegts", container_options={"flush_packets": "1"})
        self.video = self.container.add_mux_stream("h264")
        self.video.time_base = VIDEO_TIME_BASE
        self.audio = self.container.add_stream("aac", rate=AUDIO_RATE)
        self.audio.codec_context.layout = "stereo"
        self.audio.codec_context.bit_rate = AAC_BITRATE
        self.resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE, frame_size=1024)
        self.video_clock = RtpClock(self.origin, 90000)
        self.audio_clock = RtpClock(self.origin, AUDIO_RATE)
        self.audio_next: int | None = None
        self.video_out = InitialResolution(self._mux_video, keyframe_interval=keyframe_interval)
        self.video_started = False
        self.last_video_dts: int | None = None
        self.closed = False

    def video_packet(self, packet: av.Packet) -> None:
        if self.closed or (not self.video_started and not packet.is_keyframe):
            return
        self.video_started = True
        pts = self.video_clock.place(packet.pts)
        if pts < 0 or (self.last_video_dts is not None and pts <= self.last_video_dts):
            return  # before the session's origin, or a repeated timestamp
        self.last_video_dts = pts
        packet.pts = packet.dts = pts
        packet.time_base = VIDEO_TIME_BASE
        self.video_out.push(packet)

    def _mux_video(self, packet: av.Packet) -> None:
        packet.stream = self.video
        self.container.mux(packet)

    def audio_frame(self, frame: av.AudioFrame) -> None:
        """Opus-decoded audio → AAC. Samples are counted from the first frame's place on
        the clock, so the AAC timeline has no gaps the encoder would stumble over."""
        if self.closed:
            return
        if self.audio_next is None:
            self.audio_next = max(0, self.audio_clock.place(frame.pts or 0))
        frame.pts = None
        for chunk in self.resampler.resample(frame):
            self._encode(chunk)

    def _encode(self, chunk: av.AudioFrame | None) -> None:
        if chunk is not None:
            chunk.pts = self.audio_next
            chunk.time_base = AUDIO_TIME_BASE
            self.audio_next += chunk.samples
        for packet in self.audio.encode(chunk):
            self.container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and muxer, then close the pipe: the reader sees end of stream."""
        if self.closed:
            return
        self.closed = True
        try:
            if self.audio_next is not None:
                self._encode(None)
            self.container.close()
        except (av.error.FFmpegError, OSError, ValueError):
            pass
        finally:
            try:
                self.pipe.close()
            except OSError:
                pass
