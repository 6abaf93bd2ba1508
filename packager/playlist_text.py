"""A live LL-HLS media playlist kept in pieces, so that a part costs the same whatever the window.

A 4-hour DVR window lists ~7,200 segments (~600 KB of text) and a playlist changes at every
part. The worker sends a `PlaylistUpdate` per part instead of the text: the header, the
segments that settled since the last update (`hls.Entry`: complete, parts no longer listed,
never changing again), the oldest listed msn, and the tail (the newest segments with their
parts, the preload hint, the rendition reports). `MediaPlaylistText` keeps the settled
entries in order and renders

- the whole playlist (`full`): the entries joined once per settled segment, not per part;
- the delta update (`delta`, RFC 8216bis 6.2.5.1, asked with `_HLS_skip=YES|v2`): the header,
  `EXT-X-SKIP:SKIPPED-SEGMENTS=n` for the oldest entries that start more than CAN-SKIP-UNTIL
  before the end of the playlist, then the rest. Skipped segments take their
  EXT-X-DISCONTINUITY tags with them (the header's DISCONTINUITY-SEQUENCE is the full
  playlist's); the first segment after the skip repeats its EXT-X-MAP (the map in force),
  and every segment has its own EXT-X-PROGRAM-DATE-TIME. A delta never skips the last entry,
  so the tail always follows a listed segment whose map it knows.

Running totals (`_ends`: each entry's end, in seconds from the first entry ever kept) find
the skip boundary by bisection; dropped entries only move `_head`, compacted now and then, so
no update walks the window. The node keeps one per media playlist (`LiveStream`), the worker
one per track for the playlist's on-disk copy.
"""

from __future__ import annotations

import zlib
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from packager.hls import Entry

SKIP_EPSILON = 1e-6


@dataclass
class PlaylistUpdate:
    """What changed in a media playlist (the `playlist` event's fields, see `transcode/contract.py`)."""

    header: str
    first_msn: int  # entries below it left the playlist
    entries: list[Entry]  # newly settled, oldest first, each after the last one sent
    tail: str
    tail_duration: float  # seconds of the complete segments in the tail (for the skip boundary)
    can_skip_until: float  # 0: no delta updates
    fresh: bool = False  # a new producer: forget the entries kept so far

    def plain(self) -> dict[str, Any]:
        return {
            "header": self.header,
            "first_msn": self.first_msn,
            "entries": [entry.plain() for entry in self.entries],
            "tail": self.tail,
            "tail_duration": self.tail_duration,
            "can_skip_until": self.can_skip_until,
            "fresh": self.fresh,
        }


@dataclass
class MediaPlaylistText:
    """The settled entries and the latest header and tail of one media playlist."""

    header: str = ""
    tail: str = ""
    tail_duration: float = 0.0
    can_skip_until: float = 0.0
    _entries: list[Entry] = field(default_factory=list)
    _listed: list[str] = field(default_factory=list)  # each entry's text after its predecessor
    _ends: list[float] = field(default_factory=list)  # running total: seconds up to each entry's end
    _head: int = 0  # entries before it left the playlist
    _body: tuple[tuple[int, int], str] | None = None  # the joined entries after the first, by (head msn, last msn)
    _full: bytes | None = None
    _full_gzip: bytes | None = None
    _delta: bytes | None = None

    def update(self, update: PlaylistUpdate) -> None:
        if update.fresh:
            self._entries, self._listed, self._ends, self._head, self._body = [], [], [], 0, None
        self.header, self.tail = update.header, update.tail
        self.tail_duration, self.can_skip_until = update.tail_duration, update.can_skip_until
        for entry in update.entries:
            if self._entries and entry.msn <= self._entries[-1].msn:
                raise ValueError(f"entry {entry.msn} does not follow {self._entries[-1].msn}")
            previous = self._entries[-1].map_uri if self._entries else None
            self._listed.append(entry.listed(previous))
            self._ends.append((self._ends[-1] if self._ends else 0.0) + entry.duration)
            self._entries.append(entry)
        while self._head < len(self._entries) and self._entries[self._head].msn < update.first_msn:
            self._head += 1
        if self._head > 64 and self._head * 2 > len(self._entries):
            del self._entries[: self._head], self._listed[: self._head], self._ends[: self._head]
            self._head = 0
        self._full = self._full_gzip = self._delta = None

    @property
    def last_msn(self) -> int:
        """The msn of the last entry settled (-1: none yet)."""
        return self._entries[-1].msn if self._entries else -1

    @property
    def entries(self) -> Sequence[Entry]:
        return self._entries[self._head :]

    def full(self) -> bytes:
        """The whole playlist (the same bytes object until the next update)."""
        if self._full is None:
            self._full = (self.header + self._from(self._head) + self.tail).encode()
        return self._full

    def full_gzip(self) -> bytes:
        """The whole playlist gzipped (level 1: ~10× smaller, a few ms for a 4-hour window),
        once per update at most, for a player that accepts it."""
        if self._full_gzip is None:
            compressor = zlib.compressobj(1, zlib.DEFLATED, 31)  # 31: the gzip format
            self._full_gzip = compressor.compress(self.full()) + compressor.flush()
        return self._full_gzip

    def delta(self) -> bytes | None:
        """The delta update, or None when nothing can be skipped (then the full one is the answer)."""
        if self._delta is None:
            skipped = self.skippable()
            if not skipped:
                return None
            skip = f"#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}\n"
            self._delta = (self.header + skip + self._from(self._head + skipped) + self.tail).encode()
        return self._delta

    def skippable(self) -> int:
        """How many of the oldest entries a delta update skips: those before the last entry that
        starts at least CAN-SKIP-UNTIL before the end of the playlist (never the last entry)."""
        listed = len(self._entries) - self._head
        if self.can_skip_until <= 0 or listed < 2:
            return 0
        end = self._ends[-1] + self.tail_duration
        # skipping k entries leaves the playlist from the end of entry k - 1 on, which must be
        # at least CAN-SKIP-UNTIL before its end: the last entry ending at or before `limit`
        limit = end - self.can_skip_until + SKIP_EPSILON
        skipped = bisect_right(self._ends, limit, self._head, len(self._ends)) - self._head
        return min(skipped, listed - 1)

    def _from(self, index: int) -> str:
        """The listed entries from `index` on, the first written as opening the list."""
        if index >= len(self._entries):
            return ""
        first = self._entries[index].listed(None)
        if index != self._head:
            return first + "".join(self._listed[index + 1 :])
        key = (self._entries[index].msn, self._entries[-1].msn)
        if self._body is None or self._body[0] != key:
            self._body = (key, "".join(self._listed[index + 1 :]))
        return first + self._body[1]
