"""The live window of one track: which segments and parts exist, which are listed, which go.

Pure bookkeeping, no I/O: it says which relative paths to delete, the caller deletes them.

How much is listed is the stream's `WindowSpan`, one object shared by every track of the
stream and its MPEG-TS playlists: the last `live_segments` segments (8 × 2 s) without DVR, the
last `dvr_seconds` of media with it (issue 19), changed at runtime by the node's commands.

Retention follows RFC 8216bis: a segment that leaves the playlist stays on disk for a while (a
client holding an old playlist may still fetch it): `live_segments` + 1 segments, i.e. the
short live window's duration, also with DVR (a player deep in a DVR window reloads its
playlist every target duration, so it never holds one older than that). Parts are listed for the segments within
`PART_LISTING_TARGET_DURATIONS` target durations of the end, and served one segment longer
than they are listed. A part is a byte range of its segment's file (`Part.offset`), so
only segments are files to delete; expired parts are names to stop serving.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

PART_LISTING_TARGET_DURATIONS = 3
PART_GRACE_SEGMENTS = 1


@dataclass
class WindowSpan:
    """How much of a stream its outputs list: the last `live_segments` complete segments, or with
    DVR the last `dvr_seconds` of media (never fewer segments than without DVR). Mutable: the
    node's SetDvrWindow command changes it while live, for every output of the stream at once."""

    live_segments: int = 8
    dvr_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.live_segments < 1:
            raise ValueError("live_segments must be at least 1")

    def keeps(self, durations_newest_first: Iterable[float], restart: bool = False) -> int:
        """How many of the newest complete segments stay listed. `restart` (clear_dvr): only the
        short live window, from which the DVR window grows again."""
        dvr = None if restart else self.dvr_seconds
        kept, covered = 0, 0.0
        for duration in durations_newest_first:
            if kept >= self.live_segments and (dvr is None or covered + duration > dvr + 1e-6):
                break
            kept += 1
            covered += duration
        return kept

    def drops(self, durations_oldest_first: Iterable[float], count: int, seconds: float, restart: bool = False) -> int:
        """How many of the oldest of `count` complete segments leave the list, given their
        durations (oldest first, read only as far as needed) and their total `seconds`: what
        `keeps` says, from the old end, so that it walks only the segments that go."""
        dvr = None if restart else self.dvr_seconds
        dropped = 0
        durations = iter(durations_oldest_first)
        while count - dropped > self.live_segments and (dvr is None or seconds > dvr + 1e-6):
            seconds -= next(durations)
            dropped += 1
        return dropped

    def newest(self, events: list[dict[str, Any]], key: str = "duration") -> list[dict[str, Any]]:
        """The newest of a crashed predecessor's segment events that this span lists (what a
        following worker carries on: with DVR, more than the live window)."""
        kept = self.keeps(event[key] for event in reversed(events))
        return events[len(events) - kept :]

    @property
    def retained(self) -> int:
        """Segments kept on disk after leaving the playlist (see the module's docstring)."""
        return self.live_segments + 1


@dataclass
class Part:
    """One CMAF chunk published as an LL-HLS part: served as `path` (`seg_<msn>.<index>.m4s`),
    stored as bytes `offset` to `offset + size` of its segment's file."""

    msn: int
    index: int
    path: str
    ticks: int
    timescale: int
    independent: bool
    size: int
    offset: int = 0
    # (playlist dir, EXT-X-PART line): a part's line never changes, and a playlist is
    # rendered for every new part (see hls.media_playlist)
    hls_line: tuple[str, str] | None = field(default=None, compare=False, repr=False)

    @property
    def duration(self) -> float:
        return self.ticks / self.timescale


@dataclass
class Segment:
    """A segment: its parts in order; `complete` once its last part is known."""

    msn: int
    path: str
    init_path: str
    start: int  # presentation time of the first sample, in track ticks
    timescale: int
    wall_clock: float  # POSIX seconds of the first sample (EXT-X-PROGRAM-DATE-TIME)
    discontinuity: bool = False
    parts: list[Part] = field(default_factory=list)
    complete: bool = False
    parts_served: bool = True
    gap: bool = False  # EXT-X-GAP: a number a crashed worker named but never finished (see track.py)
    # (parts counted, their ticks, their bytes): parts are only ever appended, and the sums
    # are read for every playlist and MPD, so only new parts are added up
    _sums: tuple[int, int, int] = field(default=(0, 0, 0), init=False, compare=False, repr=False)
    # (playlist dir, EXTINF + URI lines) once complete (see hls.media_playlist)
    hls_lines: tuple[str, str] | None = field(default=None, init=False, compare=False, repr=False)

    @property
    def ticks(self) -> int:
        return self._totals()[1]

    @property
    def duration(self) -> float:
        return self.ticks / self.timescale  # int / int: the correctly rounded float

    @property
    def size(self) -> int:
        return self._totals()[2]

    def _totals(self) -> tuple[int, int, int]:
        counted, ticks, size = self._sums
        if counted != len(self.parts):
            if counted > len(self.parts):  # not appended to: count again
                counted, ticks, size = 0, 0, 0
            for part in self.parts[counted:]:
                ticks += part.ticks
                size += part.size
            self._sums = (len(self.parts), ticks, size)
        return self._sums


@dataclass
class Expired:
    """What a `trim` let go: segment files to delete, part names to stop serving."""

    segments: list[str] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)

    @property
    def paths(self) -> list[str]:
        return self.segments + self.parts


class TrackWindow:
    """Segments of one track, oldest first; the last one may still be growing."""

    def __init__(self, span: WindowSpan | int) -> None:
        """`span`: the stream's shared `WindowSpan` (an int: a window of that many segments)."""
        self.span = span if isinstance(span, WindowSpan) else WindowSpan(span)
        self.segments: list[Segment] = []
        self.retired: deque[Segment] = deque()
        self.max_segment_duration = 0.0
        self.discontinuity_sequence = 0  # EXT-X-DISCONTINUITY tags that left the playlist
        # (first segment, complete segments counted from it, their seconds): see _listed_totals
        self._totals: tuple[Segment | None, int, float] = (None, 0, 0.0)

    @property
    def current(self) -> Segment | None:
        """The segment in progress, if any."""
        if self.segments and not self.segments[-1].complete:
            return self.segments[-1]
        return None

    @property
    def last_part(self) -> Part | None:
        for segment in reversed(self.segments):
            if segment.parts:
                return segment.parts[-1]
        return None

    def open_segment(self, segment: Segment) -> None:
        if self.current is not None:
            raise RuntimeError("previous segment still open")
        self.segments.append(segment)

    def add_part(self, part: Part) -> None:
        current = self.current
        if current is None or current.msn != part.msn or len(current.parts) != part.index:
            raise RuntimeError(f"part {part.msn}.{part.index} does not continue the open segment")
        current.parts.append(part)
        self.max_segment_duration = max(self.max_segment_duration, current.duration)

    def complete_current(self) -> Segment:
        current = self.current
        if current is None:
            raise RuntimeError("no open segment")
        current.complete = True
        return current

    def parts_listed_from(self, target_duration: int) -> int:
        """Media sequence number of the oldest segment whose parts the playlist lists."""
        if not self.segments:
            return 0
        budget = PART_LISTING_TARGET_DURATIONS * target_duration
        listed_from = self.segments[-1].msn
        covered = 0.0
        for segment in reversed(self.segments):
            if covered >= budget:
                break
            listed_from = segment.msn
            covered += segment.duration
        return listed_from

    @property
    def window_segments(self) -> int:
        return self.span.live_segments

    def trim(self, target_duration: int, restart: bool = False) -> Expired:
        """Unlist segments beyond the window (`restart`: beyond the short live window, see
        `WindowSpan.keeps`); returns what is no longer to be served. Walks only what changes:
        a 4-hour window is 7,200 segments, trimmed at every segment."""
        expired = Expired()
        complete, seconds = self._listed_totals()
        excess = self.span.drops((segment.duration for segment in self.segments), complete, seconds, restart)
        if excess > 0:
            for segment in self.segments[:excess]:
                self.retired.append(segment)
                self.discontinuity_sequence += segment.discontinuity
                seconds -= segment.duration
            del self.segments[:excess]
            self._totals = (self.segments[0] if self.segments else None, complete - excess, seconds)
        while len(self.retired) > self.span.retained:
            segment = self.retired.popleft()
            expired.segments.append(segment.path)
            expired.parts.extend(self._drop_parts(segment))
        parts_kept_from = self.parts_listed_from(target_duration) - PART_GRACE_SEGMENTS
        for segment in self._older_than(parts_kept_from):
            expired.parts.extend(self._drop_parts(segment))
        return expired

    def _listed_totals(self) -> tuple[int, float]:
        """(complete segments listed, their seconds): a running total, added to as segments
        complete (complete segments are a prefix of the window: only the last one grows),
        counted again only when the window was changed from outside (a carried window)."""
        first, counted, seconds = self._totals
        segments = self.segments
        if not segments or first is not segments[0] or counted > len(segments):
            counted, seconds = 0, 0.0
        while counted < len(segments) and segments[counted].complete:
            seconds += segments[counted].duration
            counted += 1
        self._totals = (segments[0] if segments else None, counted, seconds)
        return counted, seconds

    def _older_than(self, msn: int) -> list[Segment]:
        """The segments below `msn` whose parts are still served, newest first: those form
        the newest run of the window (parts stop being served oldest first; carried and gap
        segments have none), so the walk stops at the first one without."""
        found = []
        for segment in itertools.chain(reversed(self.segments), reversed(self.retired)):
            if segment.msn >= msn:
                continue
            if not segment.parts_served:
                break
            found.append(segment)
        return found

    def release_retired(self) -> Expired:
        """A full disk: the unlisted segments kept for players holding an older playlist go now."""
        expired = Expired()
        while self.retired:
            segment = self.retired.popleft()
            expired.segments.append(segment.path)
            expired.parts.extend(self._drop_parts(segment))
        return expired

    @staticmethod
    def _drop_parts(segment: Segment) -> list[str]:
        if not segment.parts_served:
            return []
        segment.parts_served = False
        return [part.path for part in segment.parts]
