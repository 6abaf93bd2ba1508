"""Where a restarted worker's outputs go on: the numbers and the timeline its predecessor reached.

A stream's worker can end while the stream goes on (it crashed, or it was stopped idle and
data came back); a new worker then packages the same stream. Players following it hold the
numbers and URLs they were given, so the new outputs continue them rather than start over:
RFC 8216bis forbids EXT-X-MEDIA-SEQUENCE going back, and a name used again (`seg_0.m4s`,
`init.mp4`) would get its old bytes from a CDN or from the node's `immutable` cache. The new
worker goes on after a discontinuity, as after a source switch: new init segments, the first
segment tagged EXT-X-DISCONTINUITY, a new DASH Period.

After a crash, the old worker's last window is still on disk and players are in the middle of
it: the new worker's playlists and MPD then go on listing it (`carried`, `ts_carried`: the
complete segments the old playlists listed), so that no playlist shrinks to one partial
segment (hls.js: a fatal `levelEmptyError`; RFC 8216bis wants three target durations) and
no DASH Period a player is in vanishes (dash.js stalled). They slide out as usual.

The node learns the point from the old worker's events (`ResumeTracker.observe`), passes it
to the new worker in its WorkerConfig (`resume`, as JSON) and the packagers start there
(`LiveOutput`, `TsRendition`). It also stores the point with the stream, so that a node that
restarts numbers on too (`ResumeTracker.restore`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

CARRY_LIMIT = 64  # segments per rendition the tracker remembers for a window to carry (a DVR window too)


@dataclass(frozen=True)
class TsResume:
    """One legacy-HLS rendition: its next segment number and the discontinuities before it."""

    sequence: int
    discontinuity_sequence: int


@dataclass(frozen=True)
class Timeline:
    """The old MPD's clock, which the new one keeps: DASH-IF wants availabilityStartTime never
    to change in a live MPD (dash.js measures its live edge from it), so the new Period starts
    at the truthful wall-clock offset on the same timeline."""

    availability_start: float  # POSIX seconds at media time `stream_start`
    stream_start: float  # media seconds
    media_end: float  # end of the media the old MPD announced
    # its Periods' fixed clocks by init segment name (`dash.PeriodClock` fields): a carried
    # Period keeps its start in the new worker's MPD
    periods: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class ResumePoint:
    msn: int  # the next CMAF media sequence number (= DASH $Number$), every track alike
    discontinuity_sequence: int  # discontinuities before it (EXT-X-DISCONTINUITY-SEQUENCE once it is first)
    init_generation: int  # the next `init_<n>.mp4`, which also names its DASH Period
    ts: dict[str, TsResume] = field(default_factory=dict)  # by rendition
    timeline: Timeline | None = None  # None: no MPD was published, the new one starts its own
    ts_floor: TsResume | None = None  # for a rendition `ts` does not list (None: it starts at 0)
    # the old window to list on, by rendition, oldest first: "segment" / "ts_segment" events
    carried: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ts_carried: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def ts_for(self, rendition: str) -> TsResume | None:
        """Where the rendition's TS playlist goes on; None: it starts afresh."""
        return self.ts.get(rendition) or self.ts_floor

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ResumePoint | None:
        if data is None:
            return None
        timeline, floor = data.get("timeline"), data.get("ts_floor")
        return cls(
            msn=data["msn"],
            discontinuity_sequence=data["discontinuity_sequence"],
            init_generation=data["init_generation"],
            ts={name: TsResume(**ts) for name, ts in data.get("ts", {}).items()},
            timeline=Timeline(**timeline) if timeline else None,
            ts_floor=TsResume(**floor) if floor else None,
            carried=data.get("carried", {}),
            ts_carried=data.get("ts_carried", {}),
        )


class ResumeTracker:
    """Follows a stream's worker events and says where the next worker resumes.

    msn: one after the highest any player was told of. A part names its msn; a complete
    segment makes the preload hint (and the MPD's growing segment) name the next one, which
    is never written by the old worker; the new worker skips it too, so a request a player
    made for it cannot get bytes of the new worker's first segment, packaged after a
    discontinuity under another init segment.
    """

    def __init__(self) -> None:
        self.named_msn = -1
        self.discontinuities = 0
        self.generation = -1
        self.ts: dict[str, TsResume] = {}
        self.ts_floor: TsResume | None = None
        self.timeline: Timeline | None = None
        self.seen = False
        self.windows: dict[str, deque[dict[str, Any]]] = {}  # complete CMAF segments by rendition
        self.ts_windows: dict[str, deque[dict[str, Any]]] = {}

    def observe(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "part":
            self.named_msn = max(self.named_msn, event["msn"])
            self.discontinuities = max(self.discontinuities, event.get("discontinuity_sequence", 0))
        elif kind == "segment":
            self.named_msn = max(self.named_msn, event["msn"] + 1)
            self._remember(self.windows, event)
        elif kind == "init":
            self.generation = max(self.generation, event.get("generation", 0))
        elif kind == "ts_segment":
            rendition, sequence = event["rendition"], event["sequence"]
            old = self.ts.get(rendition)
            if old is None or sequence >= old.sequence:
                self.ts[rendition] = TsResume(sequence + 1, event.get("discontinuity_sequence", 0))
            self._remember(self.ts_windows, event)
        elif kind == "mpd" and "availability_start" in event:
            self.timeline = Timeline(
                event["availability_start"], event["stream_start"], event["media_end"], event.get("periods", {})
            )
        else:
            return
        self.seen = True

    def restore(self, point: ResumePoint, margin: int) -> None:
        """Go on from a point an earlier run of the node stored, which may be behind what that
        run went on to announce: up to `margin` more segments (and TS segments), and one more
        worker's discontinuity and init segment. A TS rendition the point does not list may
        have written segments since: it starts at the restored msn, which no TS sequence
        number passes (both count the same segments, and the msn skips one per restart)."""
        self.named_msn = max(self.named_msn, point.msn - 1 + margin)
        self.discontinuities = max(self.discontinuities, point.discontinuity_sequence + 1)
        self.generation = max(self.generation, point.init_generation)
        for rendition, ts in point.ts.items():
            self.ts[rendition] = TsResume(ts.sequence + margin, ts.discontinuity_sequence + 1)
        self.ts_floor = TsResume(self.named_msn + 1, self.discontinuities)
        self.timeline = self.timeline or point.timeline
        self.seen = True

    def forget_windows(self) -> None:
        """The next worker starts its windows afresh (its predecessor's ended): a later crash
        of it must not carry segments it never listed."""
        self.windows.clear()
        self.ts_windows.clear()

    @staticmethod
    def _remember(windows: dict[str, deque[dict[str, Any]]], event: dict[str, Any]) -> None:
        window = windows.get(event["rendition"])
        if window is None:
            window = windows[event["rendition"]] = deque(maxlen=CARRY_LIMIT)
        window.append(event)

    def point(self, *, carry: bool = False) -> ResumePoint | None:
        """None before any output was announced: the next worker starts from scratch.
        `carry`: with the old windows, for a worker that follows a crashed one."""
        if not self.seen:
            return None
        carried = {name: list(w) for name, w in self.windows.items()} if carry else {}
        ts_carried = {name: list(w) for name, w in self.ts_windows.items()} if carry else {}
        return ResumePoint(
            self.named_msn + 1,
            self.discontinuities,
            self.generation + 1,
            dict(self.ts),
            self.timeline,
            self.ts_floor,
            carried,
            ts_carried,
        )
