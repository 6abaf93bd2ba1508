"""The live window of one track: which segments and parts exist, which are listed, which go.

Pure bookkeeping, no I/O: it says which relative paths to delete, the caller deletes them.

Retention follows RFC 8216bis: a segment that leaves the playlist stays on disk for its own
duration plus the playlist's duration (a client holding an old playlist may still fetch it),
so segment files are kept for twice the window; parts are listed for the segments within
`PART_LISTING_TARGET_DURATIONS` target durations of the end, and served one segment longer
than they are listed. A part is a byte range of its segment's file (`Part.offset`), so
only segments are files to delete; expired parts are names to stop serving.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

PART_LISTING_TARGET_DURATIONS = 3
PART_GRACE_SEGMENTS = 1


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

    def __init__(self, window_segments: int) -> None:
        if window_segments < 1:
            raise ValueError("window_segments must be at least 1")
        self.window_segments = window_segments
        self.segments: list[Segment] = []
        self.retired: deque[Segment] = deque()
        self.max_segment_duration = 0.0
        self.discontinuity_sequence = 0  # EXT-X-DISCONTINUITY tags that left the playlist

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

    def trim(self, target_duration: int) -> Expired:
        """Unlist segments beyond the window; returns what is no longer to be served."""
        expired = Expired()
        complete = [segment for segment in self.segments if segment.complete]
        excess = len(complete) - self.window_segments
        if excess > 0:
            for segment in self.segments[:excess]:
                self.retired.append(segment)
                self.discontinuity_sequence += segment.discontinuity
            del self.segments[:excess]
        while len(self.retired) > self.window_segments + 1:
            segment = self.retired.popleft()
            expired.segments.append(segment.path)
            expired.parts.extend(self._drop_parts(segment))
        parts_kept_from = self.parts_listed_from(target_duration) - PART_GRACE_SEGMENTS
        for segment in [*self.retired, *self.segments]:
            if segment.msn < parts_kept_from:
                expired.parts.extend(self._drop_parts(segment))
        return expired

    @staticmethod
    def _drop_parts(segment: Segment) -> list[str]:
        if not segment.parts_served:
            return []
        segment.parts_served = False
        return [part.path for part in segment.parts]
