"""Continuous source timestamps: jumps in the source's clock are taken out before the hub.

Publishers restart their encoders, splice files, or send a clock that leaps (or wraps) — the
packagers and encoders need decode timestamps that keep rising without holes. Per stream, a
packet whose dts goes back, or leaps forward by more than `MAX_GAP`, re-anchors that stream:
it continues one packet duration after the previous packet. A small step back or a repeated
stamp (seen when files are spliced) only moves that packet one tick past the previous one. Audio
and video re-anchor each on their own, so they stay within a frame of each other, as they were
before the jump.

A source switch (failover, pull rotation) is a jump too, across streams: after
`source_changed()` each stream of the new source continues where the same kind of stream
(video, audio) of the old one ended, one packet later, whatever its clock and time base. So
the origin, the audio and the transcoder's renditions stay on one timeline.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction

import av

log = logging.getLogger("headwater.worker")

MAX_GAP = Fraction(5)  # seconds; a longer silence in one stream is a clock jump, not a pause
MAX_JITTER = Fraction(1, 2)  # seconds; a smaller step back is a reordered/duplicate stamp
DEFAULT_STEP = Fraction(1, 50)


@dataclass
class _Clock:
    """One stream's state. The limits are in its own ticks, computed once: Fraction arithmetic
    on every packet was a measurable share of a passthrough worker's CPU."""

    time_base: Fraction
    kind: str = ""
    offset: int = 0
    last_dts: int | None = None
    step: int = 0
    max_jitter: int = 0  # most ticks strictly below MAX_JITTER: a step back up to it is nudged
    max_gap: int = 0  # most ticks up to MAX_GAP: a longer leap forward is a jump
    one_second: int = 0  # a step up to one second is remembered as the packet duration

    def __post_init__(self) -> None:
        self.max_jitter = _ticks(MAX_JITTER, self.time_base, strictly_below=True)
        self.max_gap = _ticks(MAX_GAP, self.time_base)
        self.one_second = _ticks(Fraction(1), self.time_base)

    def default_step(self) -> int:
        return self.step or max(1, round(DEFAULT_STEP / self.time_base))


def _ticks(seconds: Fraction, time_base: Fraction, strictly_below: bool = False) -> int:
    """The most whole ticks that last no longer than (or strictly less than) `seconds`, so
    that comparing a tick count with it is the exact comparison of the durations."""
    ticks = seconds / time_base
    whole = ticks.numerator // ticks.denominator
    return whole - 1 if strictly_below and whole == ticks else whole


class ContinuousTimeline:
    def __init__(self) -> None:
        self.clocks: dict[int, _Clock] = {}
        self.handover: dict[str, Fraction] = {}  # kind → where the new source's stream starts (s)
        self.jumps = 0

    def source_changed(self) -> None:
        """The next packets come from another source: continue each kind of stream."""
        for clock in self.clocks.values():
            if clock.last_dts is not None:
                self.handover[clock.kind] = (clock.last_dts + clock.default_step()) * clock.time_base
        self.clocks = {}

    def apply(self, packet: av.Packet) -> None:
        """Shift `packet`'s pts/dts in place onto its stream's continuous timeline."""
        if packet.dts is None:
            return
        stream = packet.stream
        clock = self.clocks.get(stream.index)
        time_base = clock.time_base if clock is not None else packet.time_base  # (a new Fraction per read)
        if time_base is None:
            return
        dts, pts = self.shift(stream.index, packet.dts, packet.pts, time_base, stream.type)
        if dts != packet.dts:
            packet.dts = dts
        if pts != packet.pts:
            packet.pts = pts

    def shift(
        self, stream: int, dts: int, pts: int | None, time_base: Fraction, kind: str = ""
    ) -> tuple[int, int | None]:
        """(dts, pts) of one packet of `stream` on its continuous timeline."""
        clock = self.clocks.get(stream)
        if clock is None:
            clock = self.clocks[stream] = _Clock(time_base, kind)
            start = self.handover.pop(kind, None)
            if start is not None:  # the first packet of a new source's stream
                clock.offset = round(start / time_base) - dts
        dts += clock.offset
        nudge = 0
        if clock.last_dts is not None:
            delta = dts - clock.last_dts
            if delta <= 0 and -delta <= clock.max_jitter:
                nudge = 1 - delta  # this packet only: one tick after the last (muxers need dts rising)
                dts += nudge
            elif delta < 0 or delta > clock.max_gap:
                shift = clock.last_dts + clock.default_step() - dts
                clock.offset += shift
                dts += shift
                self.jumps += 1
                log.warning(
                    "source %s timestamps jumped by %.3fs; continuing without the jump",
                    kind or stream,
                    float(delta * time_base),
                )
            elif delta <= clock.one_second:
                clock.step = delta  # the next re-anchor continues one packet later
        clock.last_dts = dts
        if pts is not None:
            pts = max(pts + clock.offset + nudge, dts)
        return dts, pts
