"""A JPEG of the live picture every few seconds, at a URL that stays the same.

Only what a screenshot needs is decoded: the first keyframe once the interval is up, with a
decoder of its own (a passthrough stream decodes nothing else), so it costs one keyframe's
decode and one JPEG encode per interval. The JPEG is at most `MAX_WIDTH` wide (a narrower
source keeps its width; the aspect ratio is kept) and replaces the previous one atomically
(`packager.atomic.write_atomic`), outside the live directory, so the last one outlives the
broadcast.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import av.video.stream
from av.packet import PacketSideData

from packager.atomic import write_atomic

log = logging.getLogger("headwater.worker")

MAX_WIDTH = 1080
GRID_SLACK = 0.001  # s: a keyframe this close before its due time is on time (rounded timestamps)
FF_QP2LAMBDA = 118  # libavutil: a quantizer scale as the encoder's lambda


class ScreenshotJob:
    """Subscribes to the stream's hub (`transcode/hub.py`); `on_packet` takes every packet.

    Due times are media time on a grid (`interval` apart): the keyframe at or after each is
    taken, so a GOP that does not divide the interval still averages one per interval, and a
    keyframe exactly on the grid counts (a wall clock's jitter skipped those). The first
    keyframe is taken at once; the grid then starts `phase` (a fraction of the interval) later,
    so streams started together do not all decode at the same moment (30 workers decoding a
    1080p keyframe each in the same instant made parts late at 30 streams).

    The decode and the JPEG run where `later(path, make)` says (the worker's file thread), off
    the packaging thread: about 30 ms of a 1080p keyframe would hold a part back."""

    def __init__(
        self,
        video: av.video.stream.VideoStream,
        path: Path,
        interval: float,
        *,
        phase: float = 0.0,
        later: Later | None = None,
    ) -> None:
        self.video = video
        self.extradata = bytes(video.codec_context.extradata or b"")
        self.path = path
        self.interval = interval
        self.first_wait = interval * (phase % 1.0) or interval
        self.later = later or write_now
        self.due: float | None = None  # the first keyframe makes the first screenshot
        self.jpeg = JpegEncoder()  # used by `make` only, on one thread at a time
        path.parent.mkdir(parents=True, exist_ok=True)

    def on_source_change(self, video: av.video.stream.VideoStream | None, _audio: object) -> None:
        if video is not None:
            self.video = video
            self.extradata = bytes(video.codec_context.extradata or b"")
            self.due = None

    def on_packet(self, packet: av.Packet) -> None:
        if packet.stream.type != "video":
            return
        if packet.has_sidedata("new_extradata"):  # a new FLV sequence header (size change)
            self.extradata = bytes(PacketSideData.from_packet(packet, "new_extradata"))
        if not packet.is_keyframe or packet.pts is None:
            return
        seconds = float(packet.pts * packet.time_base)
        if self.due is not None and seconds < self.due - GRID_SLACK:
            return
        self.due = seconds + self.first_wait if self.due is None else self.due + self.interval
        if self.due <= seconds:  # no keyframe for more than an interval: a new grid from here
            self.due = seconds + self.interval
        codec, extradata, data = self.video.codec_context.name, self.extradata, bytes(packet)
        self.later(self.path, lambda: self._jpeg(codec, extradata, data))

    def _jpeg(self, codec: str, extradata: bytes, data: bytes) -> bytes | None:
        try:
            frame = decode_keyframe(codec, extradata, av.Packet(data))
        except av.FFmpegError as error:
            log.warning("screenshot: keyframe did not decode (%s); trying the next one", error)
            return None
        return None if frame is None else self.jpeg.encode(frame)

    def close(self) -> None:
        pass


Later = Callable[[Path, Callable[[], "bytes | None"]], None]


def write_now(path: Path, make: Callable[[], bytes | None]) -> None:
    data = make()
    if data is not None:
        write_atomic(path, data)


def decode_keyframe(codec: str, extradata: bytes, packet: av.Packet) -> av.VideoFrame | None:
    """The picture of one keyframe, from a fresh decoder (flushed at once, so a decoder's
    frame delay never holds it back). `extradata`: the stream's parameter sets (avcC) when
    its packets do not carry them in-band."""
    decoder = av.CodecContext.create(codec, "r")
    assert isinstance(decoder, av.VideoCodecContext)
    if extradata:
        decoder.extradata = extradata
    decoder.thread_count = 1  # no thread pool: one picture per interval, and a worker keeps to two threads
    frames = decoder.decode(packet) + decoder.decode(None)
    return frames[0] if frames else None


class JpegEncoder:
    """PyAV's mjpeg encoder, kept open while the size stays (FIELD-NOTES: ≈ 5–6 ms for a
    1080-px-wide JPEG, Pillow ≈ 2× slower); a new picture size opens a new one."""

    def __init__(self) -> None:
        self.encoder: av.VideoCodecContext | None = None
        self.pts = 0  # rising: the encoder refuses a frame that repeats one

    def encode(self, frame: av.VideoFrame) -> bytes:
        width, height = screenshot_size(frame.width, frame.height)
        if self.encoder is None or (self.encoder.width, self.encoder.height) != (width, height):
            self.encoder = self._open(width, height)
        picture = frame.reformat(width=width, height=height, format="yuvj420p")
        self.pts += 1
        picture.pts, picture.time_base = self.pts, self.encoder.time_base
        return b"".join(bytes(p) for p in self.encoder.encode(picture))

    @staticmethod
    def _open(width: int, height: int) -> av.VideoCodecContext:
        encoder = av.CodecContext.create("mjpeg", "w")
        encoder.width, encoder.height = width, height
        encoder.pix_fmt = "yuvj420p"
        encoder.thread_count = 1
        encoder.time_base = Fraction(1, 25)
        encoder.flags |= av.codec.context.Flags.qscale
        encoder.global_quality = 3 * FF_QP2LAMBDA  # ffmpeg's `-q:v 3`: good quality, ~40 KB at 1080 px
        encoder.open()
        return encoder


def screenshot_size(width: int, height: int) -> tuple[int, int]:
    """At most MAX_WIDTH wide with the source's aspect; both sides even (4:2:0 chroma)."""
    if width <= MAX_WIDTH:
        return width - width % 2, height - height % 2
    scaled = round(height * MAX_WIDTH / width)
    return MAX_WIDTH, max(2, scaled - scaled % 2)
