"""The one media timeline every track of a `LiveOutput` shares, and its anchor on the wall clock.

Why one: players keep audio and video in sync by the fragments' `tfdt`, so every track's times
must be on the same axis. It is the source's time minus an origin taken at the first packet
(minus ORIGIN_MARGIN, so tracks that start slightly earlier stay non-negative). PROGRAM-DATE-TIME
and the MPD's availabilityStartTime come from one media-time → wall-clock anchor taken at the
same packet (`clock`, injectable for tests).

After a discontinuity (a source switch) the new source's times are shifted to go on where the
wall clock says, never before the end of the last segment, so a gap in the source is a gap in
time. A worker that replaces one of the same stream (`resume.Timeline`) goes on from the old
MPD's timeline the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

from packager.resume import Timeline

ORIGIN_MARGIN = Fraction(10)


class MediaTimeline:
    def __init__(self, clock: Callable[[], float], resume: Timeline | None = None) -> None:
        self._clock = clock
        self._resume = resume
        self._origin: Fraction | None = None
        self._shifts: dict[tuple[int, int], int] = {}  # time base → origin in its ticks
        self._continue_from: float | None = None
        self.anchor: tuple[float, float] | None = None  # (media seconds, wall clock)

    @property
    def started(self) -> bool:
        """Whether the first packet set the origin."""
        return self._origin is not None

    def shift(self, time_base: Fraction, dts: int, pts: int) -> int:
        """The origin in ticks of `time_base`, for a packet with those timestamps (in ticks):
        the first packet, and the first after `continue_after`, set the origin."""
        if self._origin is None or self._continue_from is not None:
            self._set_origin(dts * time_base, pts * time_base)
        return self._ticks(time_base.numerator, time_base.denominator)

    def wall_clock(self, media: float) -> float:
        """POSIX seconds at media time `media` (seconds), by the anchor."""
        assert self.anchor is not None
        anchor_media, anchor_wall = self.anchor
        return anchor_wall + media - anchor_media

    def continue_after(self, end: float | None) -> None:
        """A discontinuity: the next packet's source time lands at the later of `end` (media
        seconds, None: nothing published) and where the wall clock says (PDT and DASH
        availability stay true); never backwards."""
        if end is not None and self.anchor is not None:
            anchor_media, anchor_wall = self.anchor
            self._continue_from = max(end, anchor_media + self._clock() - anchor_wall)

    def _ticks(self, numerator: int, denominator: int) -> int:
        """The origin in ticks of that time base. Cached per time base: Fraction arithmetic on
        every packet was a measurable share of the packager's CPU. (Integer products divided
        once give the same correctly rounded seconds as float(Fraction).)"""
        key = (numerator, denominator)
        shift = self._shifts.get(key)
        if shift is None:
            assert self._origin is not None
            shift = self._shifts[key] = round(self._origin * denominator / numerator)
        return shift

    def _set_origin(self, dts: Fraction, pts: Fraction) -> None:
        self._shifts.clear()
        if self._origin is None and self._resume is not None:
            # a previous worker's timeline: go on where the wall clock says, never backwards
            resumed = self._resume
            wall = resumed.stream_start + self._clock() - resumed.availability_start
            self._continue_from = max(resumed.media_end, wall)
        if self._continue_from is None:
            self._origin = dts - ORIGIN_MARGIN
        else:  # after a discontinuity: continue the timeline where it stopped
            self._origin = dts - Fraction(self._continue_from)
            self._continue_from = None
        self.anchor = (float(pts - self._origin), self._clock())
