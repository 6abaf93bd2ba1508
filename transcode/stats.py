"""Status the node shows in the API: speed, frame rate and resolution of what is processed."""

from __future__ import annotations

import time
from collections.abc import Callable

import av

REPORT_EVERY = 1.0  # seconds of wall time


class StatsJob:
    """Reports `transcoding_speed` (media seconds per wall second) and the source's shape.

    The speed is measured over the last report interval; a worker falling behind real time
    shows it within a second or two.
    """

    def __init__(self, video: av.video.stream.VideoStream | None, emit: Callable[[dict], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.video = video
        self.emit = emit
        self.clock = clock
        self.window_start = clock()
        self.media_start: float | None = None
        self.media_now: float | None = None
        self.frames = 0

    def on_packet(self, packet: av.Packet) -> None:
        if packet.dts is None or packet.time_base is None:
            return
        seconds = float(packet.dts * packet.time_base)
        if self.media_start is None:
            self.media_start = seconds
        self.media_now = seconds if self.media_now is None else max(self.media_now, seconds)
        if packet.stream.type == "video":
            self.frames += 1
        now = self.clock()
        if now - self.window_start >= REPORT_EVERY:
            self.report(now)

    def report(self, now: float) -> None:
        wall = now - self.window_start
        media = (self.media_now or 0.0) - (self.media_start or 0.0)
        event = {"event": "stats", "speed": round(media / wall, 3) if wall > 0 else None}
        if self.video is not None:
            context = self.video.codec_context
            event.update(
                width=context.width or None,
                height=context.height or None,
                frame_rate=round(self.frames / media, 3) if media > 0 else None,
            )
        self.emit(event)
        self.window_start, self.media_start, self.frames = now, self.media_now, 0

    def on_source_change(self, video, audio) -> None:
        """Another publisher: its own shape, and its timestamps start a new window."""
        self.video = video
        self.media_start = self.media_now = None
        self.frames = 0
        self.window_start = self.clock()

    def close(self) -> None:
        pass
