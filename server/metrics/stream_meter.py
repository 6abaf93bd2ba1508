"""What the node counts of each stream for `/metrics`, kept where the work already happens.

A `StreamMeter` per stream id lives as long as the node knows the stream (its `Succession`
holds it, and hands it to every delivery state it opens), so its counters run on across
workers and broadcasts. Everything here is plain numbers and sets: the delivery fast path
only adds to `served_bytes` and `followers`; the worker's events (a few per part) feed the
rest; `/metrics` reads them at scrape time (server/metrics/collector.py).

Viewers: a viewer is a client address that fetched one of the stream's playlists or
manifests in the last one or two VIEWER_WINDOWs (players reload them every part or every
segment), counted per protocol by the playlist's name. Clients behind one address (NAT, a
CDN edge) count once: the origin cannot tell them apart.
"""

from __future__ import annotations

import asyncio

from ingest.rtmp.rests import grid_delay
from transcode.contract import Part, Stats

VIEWER_WINDOW = 6.0  # seconds; a viewer counts for one to two windows after its last reload
PROTOCOLS = ("llhls", "hls", "dash")  # CMAF LL-HLS, HLS over MPEG-TS, DASH


def viewer_protocol(path: str) -> str:
    """The delivery protocol a playlist or manifest under `/live/<id>/` belongs to."""
    if path.endswith(".mpd"):
        return "dash"
    if "mpegts" in path:
        return "hls"
    return "llhls"


class PartSchedule:
    """When one rendition's parts should arrive: its first part's arrival plus the media
    duration announced since, against the earliest such offset seen (as `bench.stream_cost`
    measures). A part more than its own duration behind that is late; the schedule then
    starts from it, so a stall counts once and a stream running slow counts again each time
    it falls another part behind."""

    __slots__ = ("best", "media")

    def __init__(self) -> None:
        self.media = 0.0
        self.best: float | None = None

    def late(self, duration: float, now: float) -> bool:
        self.media += duration
        offset = now - self.media
        if self.best is None or offset < self.best:
            self.best = offset
            return False
        if offset - self.best > duration:
            self.best = offset
            return True
        return False


class StreamMeter:
    def __init__(self) -> None:
        self.served_bytes = 0  # bodies answered under /live/<id>/ (fast path and ASGI)
        self.followers: set[tuple[str, str]] = set()  # (playlist path, client address), this window
        self.followers_before: set[tuple[str, str]] = set()  # the window before
        self.parts = 0
        self.segments = 0
        self.late_parts = 0
        self.worker_restarts = 0  # workers that exited with an error (a successor takes over)
        self.recording_seconds = 0.0  # media seconds written to recordings (`recorded`)
        self._recorded: dict[str, float] = {}  # each recording's duration at its last progress
        self.stats: Stats | None = None  # the running worker's last, None between broadcasts
        self.schedules: dict[str, PartSchedule] = {}

    # -- delivery --------------------------------------------------------------------------
    def next_window(self) -> None:
        self.followers_before, self.followers = self.followers, set()

    def viewers(self) -> dict[str, int]:
        """Distinct client addresses per protocol over the last one or two windows."""
        seen: dict[str, set[str]] = {protocol: set() for protocol in PROTOCOLS}
        for window in (self.followers, self.followers_before):
            for path, client in window:
                seen[viewer_protocol(path)].add(client)
        return {protocol: len(clients) for protocol, clients in seen.items()}

    # -- the worker's events -------------------------------------------------------------------
    def source_started(self, started: bool) -> None:
        """A worker's source started (`started`) or was switched: its parts keep a new
        schedule (the gap before them is the source's, not late packaging); a new broadcast
        has no stats yet."""
        self.schedules.clear()
        if started:
            self.stats = None

    def part(self, event: Part, now: float) -> None:
        self.parts += 1
        schedule = self.schedules.get(event.rendition)
        if schedule is None:
            schedule = self.schedules[event.rendition] = PartSchedule()
        if schedule.late(event.duration, now):
            self.late_parts += 1

    def segment(self) -> None:
        self.segments += 1

    def worker_failed(self) -> None:
        self.worker_restarts += 1

    def recorded(self, key: str, duration: float) -> None:
        """A recording now holds `duration` seconds (its progress events): the counter grows
        by what it gained since the last one."""
        gained = duration - self._recorded.get(key, 0.0)
        self._recorded[key] = duration
        self.recording_seconds += max(0.0, gained)


class StreamMeters:
    """Every stream's meter on this node, and the timer that moves the viewer windows on."""

    def __init__(self, window: float = VIEWER_WINDOW) -> None:
        self.by_stream: dict[int, StreamMeter] = {}
        self.window = window
        self.timer: asyncio.TimerHandle | None = None

    def of(self, stream_id: int) -> StreamMeter:
        meter = self.by_stream.get(stream_id)
        if meter is None:
            meter = self.by_stream[stream_id] = StreamMeter()
        return meter

    def start(self) -> None:
        """On the loop clock's grid of `window` (a multiple of the RTMP rest tick: the node
        wakes for it together with the other timers)."""
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(grid_delay(loop.time(), self.window), self._next_window)

    def _next_window(self) -> None:
        for meter in self.by_stream.values():
            meter.next_window()
        self.start()

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
