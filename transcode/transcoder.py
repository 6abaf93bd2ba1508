"""The transcoder: decode the source video once, then scale and encode every rendition.

Per source packet (on the worker's main thread): decode, mark the frames that must become
IDR frames (the `KeyframePlan`, same decision for every rendition), hand each frame to every
rendition thread whose frame-rate cap keeps it, then mux whatever the encoders returned.
Muxing stays on this thread because the packagers are not thread-safe.

Audio is not touched here: the source's AAC is shared by every variant (the origin job
muxes it once into the shared outputs).
"""

from __future__ import annotations

import logging
import queue
import time
from collections import deque
from collections.abc import Callable
from fractions import Fraction

import av
from av.video.frame import PictureType

from transcode.contract import Degraded
from transcode.degrader import Degrader
from transcode.encoders import VideoEncoder
from transcode.keyframes import FrameRateCap, KeyframePlan
from transcode.ladder import PlannedRendition
from transcode.outputs import StreamOutputs
from transcode.overlay import Compositor
from transcode.passthrough import ORIGIN
from transcode.rendition import RenditionThread

log = logging.getLogger("headwater.transcode")

DEFAULT_FRAME_RATE = 30.0


class TranscodeJob:
    def __init__(
        self,
        outputs: StreamOutputs,
        video: av.video.stream.VideoStream,
        planned: list[PlannedRendition],
        plan: KeyframePlan,
        *,
        codec: str,
        preset: str,
        emit: Callable[[dict], None],
        degrade_after: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        compositor: Compositor | None = None,
    ) -> None:
        self.outputs = outputs
        self.compositor = compositor  # html_overlay: drawn on every decoded frame before scaling
        self.video = video
        self.plan = plan
        self.emit = emit
        self.clock = clock
        self.time_base = video.time_base or Fraction(1, 1000)  # the encoders' time base, for good
        self.decoder = video.codec_context
        self.decoder.thread_type = "AUTO"
        self.clock_map = EncoderClock(self.time_base)
        self.forced: deque[int] = deque(maxlen=64)  # output pts of frames made IDR
        self.outbox: queue.SimpleQueue = queue.SimpleQueue()
        self.threads: dict[str, RenditionThread] = {}
        self.caps: dict[str, FrameRateCap] = {}
        self.progress: dict[str, float] = {}  # rendition → media seconds muxed so far
        self.degrader = Degrader(degrade_after)
        self.blocked = 0.0
        self.ended: set[str] = set()  # renditions whose thread has put its last packet
        self.decode_errors = 0
        source_rate = float(video.average_rate or video.guessed_rate or DEFAULT_FRAME_RATE)
        for rung in planned:
            self._start_rendition(rung, codec, preset, source_rate)

    def _start_rendition(self, rung: PlannedRendition, codec: str, preset: str, source_rate: float) -> None:
        rate = min(rung.rendition.max_frame_rate or source_rate, source_rate)
        try:
            encoder = VideoEncoder(
                codec,
                rung.width,
                rung.height,
                rung.bits_per_second,
                rate,
                self.time_base,
                self.plan.boundaries.segment_target,
                preset,
            )
        except av.error.FFmpegError as error:  # this rung cannot be made; the others can
            log.error("rendition %s (%dx%d): encoder did not open: %s", rung.name, rung.width, rung.height, error)
            return
        self.outputs.add_video(rung.name, encoder.stream, resolution=(rung.width, rung.height), frame_rate=rate)
        self.threads[rung.name] = RenditionThread(rung, encoder, self.outbox)
        self.caps[rung.name] = FrameRateCap(rung.rendition.max_frame_rate)

    @property
    def renditions(self) -> list[str]:
        return list(self.threads)

    def media_seconds(self) -> float | None:
        """How far the slowest rendition's output has come (what `transcoding_speed` reads)."""
        if not self.progress or len(self.progress) < len(self.threads):
            return None
        return min(self.progress.values())

    # -- hub job ------------------------------------------------------------------------
    def on_packet(self, packet: av.Packet) -> None:
        if packet.stream.type == "video" and self.threads:
            for frame in self._decode(packet):
                self._fan_out(frame)
        self._mux_ready()
        if self.degrader.observe(self.clock(), self.media_seconds(), self._take_blocked()):
            self._shed_top()

    def on_source_change(self, video, audio) -> None:
        """Another source: its video gets a fresh decoder (the old one drains first); the
        encoders go on (the worker's timeline continues the old source's timestamps)."""
        if not self.threads:
            return
        for frame in self._decode(None):
            self._fan_out(frame)
        self.decoder = None
        if video is not None:
            self.video = video
            self.decoder = video.codec_context
            self.decoder.thread_type = "AUTO"
            self.clock_map.start(video.time_base or self.time_base)

    def _decode(self, packet: av.Packet | None) -> list[av.VideoFrame]:
        if self.decoder is None:
            return []
        try:
            return self.decoder.decode(packet)
        except av.error.FFmpegError as error:  # a broken packet costs a frame, not the stream
            self.decode_errors += 1
            if self.decode_errors <= 3 or self.decode_errors % 100 == 0:
                log.warning("decode error %d: %s", self.decode_errors, error)
            return []

    def _fan_out(self, frame: av.VideoFrame) -> None:
        if frame.pts is None:
            return
        forced = self.plan.forces_idr(frame.pts)  # the plan speaks the source's pts
        frame.pts = self.clock_map.output_pts(frame.pts)
        seconds = float(frame.pts * self.time_base)
        if forced:
            self.forced.append(frame.pts)
        if self.compositor is not None:
            frame = self.compositor.apply(frame)
        frame.time_base = self.time_base
        frame.pict_type = PictureType.I if forced else PictureType.NONE
        start = self.clock()
        for name, thread in self.threads.items():
            if self.caps[name].keep(seconds, forced):
                thread.submit(frame)
        self.blocked += self.clock() - start

    def _take_blocked(self) -> float:
        blocked, self.blocked = self.blocked, 0.0
        return blocked

    def _mux_ready(self, wait_for: set[str] | None = None) -> None:
        """Mux what the encoders produced; with `wait_for`, block until those renditions end."""
        while True:
            try:
                name, packet = self.outbox.get(block=bool(wait_for))
            except queue.Empty:
                return
            if packet is None:
                self._thread_ended(name)
                if wait_for is not None:
                    wait_for.discard(name)
                    if not wait_for:
                        return
                continue
            if name not in self.threads:
                continue  # shed rendition: its last packets go nowhere
            segment_start = packet.is_keyframe and packet.pts in self.forced
            self.outputs.mux_video(name, packet, segment_start=segment_start)
            if packet.pts is not None:
                self.progress[name] = float(packet.pts * packet.time_base)

    def _thread_ended(self, name: str) -> None:
        self.ended.add(name)
        thread = self.threads.get(name)
        if thread is not None and thread.error is not None:  # an encoder failed mid-stream
            self._drop(name, f"encoder failed: {thread.error}")

    # -- degrading ----------------------------------------------------------------------
    def _shed_top(self) -> None:
        """The tallest rendition goes, never the origin (encoded here under html_overlay)."""
        sheddable = [name for name in self.threads if name != ORIGIN]
        if len(sheddable) <= 1:
            return
        name = sheddable[0]  # tallest first
        self.threads[name].finish()
        self._drop(name, f"behind real time (speed {self.degrader.last_speed or 0:.2f})")

    def _drop(self, name: str, reason: str) -> None:
        self.threads.pop(name)
        self.progress.pop(name, None)
        self.outputs.retire(name)
        log.warning("transcoding: dropped rendition %s: %s", name, reason)
        left = [ORIGIN, *(other for other in self.threads if other != ORIGIN)]
        self.emit(Degraded(dropped=name, reason=reason, renditions=left))

    # -- end ----------------------------------------------------------------------------
    def close(self) -> None:
        """Drain the decoder and every encoder, muxing the last packets, then stop threads."""
        if self.threads:
            for frame in self._decode(None):
                self._fan_out(frame)
        pending = set(self.threads) - self.ended
        for name in pending:
            self.threads[name].finish()
        if pending:
            self._mux_ready(wait_for=pending)
        for thread in list(self.threads.values()):
            thread.join()


class EncoderClock:
    """Source frame pts → the encoders' time base, fixed when they opened.

    The worker's timeline keeps source timestamps rising across source switches; a new
    source may still speak another time base (RTMP 1/1000, MPEG-TS 1/90000), and rounding
    must never repeat a pts (x264 rejects it).
    """

    def __init__(self, time_base: Fraction) -> None:
        self.time_base = time_base
        self.source_time_base = time_base
        self.last: int | None = None

    def start(self, source_time_base: Fraction) -> None:
        self.source_time_base = source_time_base

    def output_pts(self, pts: int) -> int:
        ticks = pts if self.source_time_base == self.time_base else round(pts * self.source_time_base / self.time_base)
        if self.last is not None and ticks <= self.last:
            ticks = self.last + 1
        self.last = ticks
        return ticks
