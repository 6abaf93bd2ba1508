"""Where the transcoded renditions put their IDR frames, and which frames a rate cap keeps.

Every variant must cut its segments at the same instants, or players switching variants
jump in time. The origin (the source remuxed) can only be cut at the source's keyframes, so
the source decides: a source keyframe that starts a segment by `SegmentBoundaries` (the very
rule the packagers apply to the origin) becomes an IDR frame in every rendition. All
renditions read one `KeyframePlan`, filled from the source packets as they are demuxed, so
they make the same decision for the same frame.
"""

from __future__ import annotations

from collections import deque

from packager.boundaries import SegmentBoundaries

MAX_REMEMBERED = 64  # segment starts kept while the frames that carry them are still in flight


class KeyframePlan:
    """Source keyframes (by pts, in the source's time base) that start a segment."""

    def __init__(self, segment_target: float) -> None:
        self.boundaries = SegmentBoundaries(segment_target)
        self.starts: deque[int] = deque(maxlen=MAX_REMEMBERED)
        self.known: set[int] = set()

    def on_source_packet(self, pts: int, seconds: float, keyframe: bool) -> bool:
        """Record one source video packet (decode order); True if it starts a segment."""
        if not self.boundaries.is_segment_start(seconds, keyframe):
            return False
        if len(self.starts) == self.starts.maxlen:
            self.known.discard(self.starts[0])
        self.starts.append(pts)
        self.known.add(pts)
        return True

    def forces_idr(self, pts: int | None) -> bool:
        """Whether the decoded frame with this pts must be an IDR frame in every rendition."""
        return pts is not None and pts in self.known

    def reset(self) -> None:
        """After a discontinuity the next source keyframe starts a segment."""
        self.boundaries.reset()


class FrameRateCap:
    """Drops frames so a rendition stays at or under `max_rate` frames per second.

    A frame is kept when at least one frame interval (less a 10 % jitter allowance) passed
    since the last kept one. Segment-start frames are always kept: dropping one would move
    that rendition's IDR and break the alignment with the other variants.
    """

    def __init__(self, max_rate: float | None) -> None:
        self.interval = 0.9 / max_rate if max_rate and max_rate > 0 else 0.0
        self.last: float | None = None

    def keep(self, seconds: float, forced: bool) -> bool:
        if self.last is not None and not forced and 0 <= seconds - self.last < self.interval:
            return False
        self.last = seconds
        return True
