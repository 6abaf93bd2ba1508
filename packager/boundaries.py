"""Where segments start: the one decision shared by the CMAF packager and the MPEG-TS segmenter.

A segment may only start on a keyframe (players start decoding there), and should last about
`segment_target` seconds. When the encoder's GOP is longer than the target, the segment simply
runs to the next keyframe: a long segment is valid, a segment starting mid-GOP is not.
"""

from __future__ import annotations


class SegmentBoundaries:
    """Decides, packet by packet, whether a keyframe opens a new segment."""

    def __init__(self, segment_target: float) -> None:
        if segment_target <= 0:
            raise ValueError("segment_target must be positive")
        self.segment_target = segment_target
        self.current_start: float | None = None

    def is_segment_start(self, time_seconds: float, keyframe: bool) -> bool:
        """True for the first keyframe, then for the first keyframe at least `segment_target`
        seconds after the start of the current segment (a small tolerance absorbs timestamp
        rounding, e.g. 1/1000 time bases)."""
        if not keyframe:
            return False
        if self.current_start is None or time_seconds - self.current_start >= self.segment_target - TOLERANCE:
            self.current_start = time_seconds
            return True
        return False

    def reset(self) -> None:
        """Forget the current segment: the next keyframe starts one (after a discontinuity)."""
        self.current_start = None


TOLERANCE = 0.001
