"""Wake a pushed stream's worker once per part, not once per write from the node.

Every wake-up costs a passthrough worker more than the frames it carries (Python's caches go
cold in between; measured with bench/worker_wakeups.py: the same media fed in 0.1 s batches
costs ~30 % more CPU than fed in 0.5 s batches or all at once). Yet nothing can be published
before the frame that closes the leader's open part arrives. So after each leader part the
worker sleeps until that next closing frame is due — the part target later in media time,
mapped to the wall clock by how late frames reach the worker — and then reads everything
that arrived meanwhile in one go. A frame later than predicted is simply waited for, as
without pacing. A worker that is behind (more than a part's worth of bytes already waiting in
the pipe, at the stream's bitrate so far) never sleeps: it catches up at full speed.

Only passthrough workers are paced: with renditions the encoders' output is muxed on the
main thread, which must not sleep on it, and encoding costs far more than wake-ups anyway.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import av

LAG_WINDOW = 4.0  # seconds; the lag estimate forgets older frames (clock drift, a stall)
MARGIN = 0.02  # seconds after the predicted arrival of the closing frame


class ReadPacer:
    """`on_packet` for every source packet before it is processed; `watch(emit)` wraps the
    event sink to see the leader's parts; `pause()` is how long to sleep before the next
    blocking read (PipeInput asks it)."""

    def __init__(self, part_target: float, input_batch: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.part_target = part_target
        self.input_batch = input_batch  # how long the node may hold a frame before writing it
        self.clock = clock
        self.media = None  # dts (s) of the packet being processed
        self.due: float | None = None  # dts (s) of the frame that will close the leader's open part
        self._lags = [float("inf"), float("inf")]  # min (wall − dts) in this window and the last
        self._window_start = clock()
        self._first_media: float | None = None
        self._bytes = 0  # packet bytes since _first_media

    def on_packet(self, packet: av.Packet) -> None:
        if packet.dts is None or packet.time_base is None:
            return
        time_base = packet.time_base
        self.media = packet.dts * time_base.numerator / time_base.denominator
        if self._first_media is None:
            self._first_media = self.media
        self._bytes += packet.size
        now = self.clock()
        if now - self._window_start >= LAG_WINDOW:
            self._lags = [float("inf"), self._lags[0]]
            self._window_start = now
        self._lags[0] = min(self._lags[0], now - self.media)

    def watch(self, emit: Callable[[dict], None], leader: str) -> Callable[[dict], None]:
        """`emit`, noting each part of `leader` (the rendition that leads the segmenting)."""
        def watched(event: dict) -> None:
            if event.get("event") == "part" and event.get("rendition") == leader and self.media is not None:
                self.due = self.media + self.part_target
            emit(event)
        return watched

    def source_changed(self) -> None:
        """Another input: its clock has nothing to do with the old one's."""
        self.media = self.due = self._first_media = None
        self._bytes = 0
        self._lags = [float("inf"), float("inf")]
        self._window_start = self.clock()

    def pause(self, waiting: int) -> float:
        """Seconds to sleep before blocking on the next read (0: read now); `waiting` = bytes
        already in the pipe."""
        lag = min(self._lags)
        if self.due is None or lag == float("inf") or self._behind(waiting):
            return 0.0
        wake = self.due + lag + self.input_batch + MARGIN
        return max(0.0, wake - self.clock())  # past: the frame is late, wait for it as it comes

    def _behind(self, waiting: int) -> bool:
        span = (self.media or 0.0) - (self._first_media or 0.0)
        return span > 0 and waiting > self._bytes / span * self.part_target
