"""Status the node shows in the API: speed, frame rate and resolution of what is processed."""

from __future__ import annotations

import time
from collections.abc import Callable

import av

from transcode.contract import Stats

REPORT_EVERY = 1.0  # seconds of wall time


class StatsJob:
    """Reports `transcoding_speed` (media seconds per wall second), the source's shape and
    its bitrate (bytes of every stream over the media time they cover: batches do not move it).

    When the stream is transcoded, the speed is that of the transcoder's output (`progress`
    gives the media time its slowest rendition has reached); otherwise that of the demuxer.

    The speed is measured over the last report interval; a worker falling behind real time
    shows it within a second or two. Input comes in batches (the node's reads, a paced worker's
    parts), so media over wall time within a window wobbles by a batch (a paced worker read
    0.76–1.22 for a steady 1.0, and each wobble is a database write on the node). The lag of
    the earliest-read packet of each window (wall − media) does not: speed = 1 − its growth
    per wall second.
    """

    def __init__(
        self,
        video: av.video.stream.VideoStream | None,
        emit: Callable[[dict], None],
        clock: Callable[[], float] = time.monotonic,
        progress: Callable[[], float | None] | None = None,
        size: Callable[[], tuple[int, int] | None] | None = None,
    ) -> None:
        """`size` gives the source's picture size as its latest SPS says (it may change
        mid-stream); without it, or when it knows none, the demuxer's is reported."""
        self.video = video
        self.progress = progress
        self.size = size
        self.emit = emit
        self.clock = clock
        self.window_start = clock()
        self.media_start: float | None = None
        self.media_now: float | None = None
        self.video_start: float | None = None  # last video dts of the previous window
        self.video_now: float | None = None
        self.frames = 0
        self.bytes = 0  # of this window's packets, every stream: the source's bitrate
        self.output_seconds: float | None = None
        self.lag: float | None = None  # least (wall − media) of this window's packets
        self.previous_lag: float | None = None  # the same of the previous window

    def on_packet(self, packet: av.Packet) -> None:
        time_base = packet.time_base
        if packet.dts is None or time_base is None:
            return
        seconds = packet.dts * time_base.numerator / time_base.denominator  # = float(dts × time_base)
        self.bytes += packet.size
        if self.media_start is None:
            self.media_start = seconds
        self.media_now = seconds if self.media_now is None else max(self.media_now, seconds)
        if packet.stream.type == "video":
            self._count_frame(seconds)
        now = self.clock()
        lag = now - seconds
        if self.lag is None or lag < self.lag:
            self.lag = lag
        if now - self.window_start >= REPORT_EVERY:
            self.report(now)

    def _count_frame(self, seconds: float) -> None:
        """Frame rate comes from video timestamps alone: audio runs ahead or behind."""
        if self.video_now is None:
            self.video_start = seconds  # the first frame opens the first interval
        else:
            self.frames += 1
        self.video_now = seconds

    def report(self, now: float) -> None:
        wall = now - self.window_start
        media = (self.media_now or 0.0) - (self.media_start or 0.0)
        event = Stats(speed=self._output_speed(wall) if self.progress else self._input_speed(media, wall))
        event.bitrate = round(8 * self.bytes / media) if media > 0 else None
        if self.video is not None:
            context = self.video.codec_context
            width, height = (self.size() if self.size else None) or (context.width, context.height)
            span = (self.video_now or 0.0) - (self.video_start or 0.0)
            event.width, event.height = width or None, height or None
            event.frame_rate = round(self.frames / span, 3) if span > 0 else None
        self.emit(event)
        self.window_start, self.media_start, self.frames, self.bytes = now, self.media_now, 0, 0
        self.video_start = self.video_now
        self.previous_lag, self.lag = self.lag, None

    def _input_speed(self, media: float, wall: float) -> float | None:
        if wall <= 0:
            return None
        if self.previous_lag is None or self.lag is None:
            return round(media / wall, 3)  # the first window
        return round(1 - (self.lag - self.previous_lag) / wall, 3)

    def on_source_change(self, video, audio) -> None:
        """Another publisher: its own shape, and its timestamps start a new window."""
        self.video = video
        self.media_start = self.media_now = None
        self.video_start = self.video_now = None
        self.frames = self.bytes = 0
        self.window_start = self.clock()
        self.lag = self.previous_lag = None

    def _output_speed(self, wall: float) -> float | None:
        """Speed of the transcoder's output (its slowest rendition), not of the demuxer."""
        output = self.progress()
        previous, self.output_seconds = self.output_seconds, output
        if output is None or previous is None or wall <= 0:
            return None
        return round((output - previous) / wall, 3)

    def close(self) -> None:
        pass
