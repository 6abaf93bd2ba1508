"""What the node counts of each stream for `/metrics`, kept where the work already happens.

A `StreamMeter` per stream id lives as long as the node knows the stream (its `Succession`
holds it, and hands it to every delivery state it opens), so its counters run on across
workers and broadcasts. Everything here is plain numbers and sets: the delivery fast path
only adds to `served_bytes` and `followers`; the worker's events (a few per part) feed the
rest; `/metrics` reads them at scrape time (server/metrics/collector.py).

Viewers: a viewer is a client address that reloaded one of the stream's playlists or
manifests in the last VIEWER_WINDOW (players reload them every part or every segment),
counted per protocol by the playlist's name, from the stream's viewer sessions
(server/metrics/viewer_sessions.py, which the statistics API reads too). Clients behind one
address (NAT, a CDN edge) count once here: the origin cannot tell them apart by address.
"""

from __future__ import annotations

import asyncio
import time

from ingest.rtmp.rests import grid_delay
from server.metrics.viewer_sessions import TICK, Follower, StreamViewers, ViewerSession
from transcode.contract import Part, Stats

VIEWER_WINDOW = 6.0  # seconds; a viewer counts this long after its last reload


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
    def __init__(self, stream_id: int = 0) -> None:
        self.served_bytes = 0  # bodies answered under /live/<id>/ (fast path and ASGI)
        self.followers: set[Follower] = set()  # (playlist path, client address, user agent) since the last tick
        self.sessions = StreamViewers(stream_id)
        self.parts = 0
        self.segments = 0
        self.late_parts = 0
        self.worker_restarts = 0  # workers that exited with an error (a successor takes over)
        self.recording_seconds = 0.0  # media seconds written to recordings (`recorded`)
        self._recorded: dict[str, float] = {}  # each recording's duration at its last progress
        self.stats: Stats | None = None  # the running worker's last, None between broadcasts
        self.schedules: dict[str, PartSchedule] = {}

    # -- delivery --------------------------------------------------------------------------
    def tick(self, now: float, changed: list[ViewerSession]) -> None:
        """The followers since the last tick go to the viewer sessions."""
        if self.followers:
            followers, self.followers = self.followers, set()
            self.sessions.see(followers, now, changed)
        if self.sessions.sessions:
            self.sessions.expire(now)

    def viewers(self, now: float | None = None) -> dict[str, int]:
        """Distinct client addresses per protocol that reloaded in the last VIEWER_WINDOW."""
        return self.sessions.viewers(time.time() if now is None else now, VIEWER_WINDOW, self.followers)

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
    """Every stream's meter on this node, and the timer that hands their followers to their
    viewer sessions. `changed`: the sessions whose rows are behind, for the statistics'
    writer (server/metrics/session_flush.py) when `keep_changed`, else dropped each tick."""

    def __init__(self, tick: float = TICK, *, keep_changed: bool = False) -> None:
        self.by_stream: dict[int, StreamMeter] = {}
        self.tick = tick
        self.keep_changed = keep_changed
        self.changed: list[ViewerSession] = []
        self.timer: asyncio.TimerHandle | None = None

    def of(self, stream_id: int) -> StreamMeter:
        meter = self.by_stream.get(stream_id)
        if meter is None:
            meter = self.by_stream[stream_id] = StreamMeter(stream_id)
        return meter

    def start(self) -> None:
        """On the loop clock's grid of `tick` (a multiple of the RTMP rest tick: the node
        wakes for it together with the other timers)."""
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(grid_delay(loop.time(), self.tick), self._tick)

    def _tick(self) -> None:
        self.hand_over(time.time())
        self.start()

    def hand_over(self, now: float) -> None:
        for meter in self.by_stream.values():
            meter.tick(now, self.changed)
        if not self.keep_changed:
            self.changed.clear()

    def take_changed(self) -> list[ViewerSession]:
        """The sessions whose rows are behind; each is marked written (`given_back` if not)."""
        changed, self.changed = self.changed, []
        for session in changed:
            session.changed = False
        return changed

    def given_back(self, sessions: list[ViewerSession]) -> None:
        """Sessions whose rows could not be written: in the next batch again."""
        for session in sessions:
            if not session.changed:
                session.changed = True
                self.changed.append(session)

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
