"""Which fragment starts a segment, decided for every track of a `LiveOutput` alike.

Why shared: all tracks must share media sequence numbers (one `$Number$`, one MSN across
renditions), so one track decides and the others follow. The first video rendition (the leader)
decides with `SegmentBoundaries` as its packets are muxed. Every other track starts segment k at
its first fragment at or after the leader's k-th boundary (video: a fragment that starts with a
keyframe). A non-leader fragment can only be decided once the leader has muxed past its time:
until then nobody knows whether it starts a segment. Without video, the audio track leads on its
own fragments.

A leader's format change (a new SPS) starts a new init generation at its next boundary; the
other tracks are told where (`TrackOutput.generation_from`) by the caller.
"""

from __future__ import annotations

from packager.boundaries import SegmentBoundaries
from packager.track import PendingSample, TrackOutput

BOUNDARY_TOLERANCE = 0.005  # seconds: same source frame, different time bases


class SegmentDecisions:
    def __init__(self, segment_target: float) -> None:
        self._boundaries = SegmentBoundaries(segment_target)
        self.boundary_times: list[float] = []  # the leader's segment starts (media seconds)
        self._leader_progress = float("-inf")  # the last dts the leader muxed
        self.leader_done = False  # the leader was flushed: nothing it decides is still to come
        self._generation_pending = False  # a format change waits for the leader's next boundary

    def leader_video_sample(self, sample: PendingSample) -> bool:
        """Decide a sample of the leading video track as it is muxed. Returns True when a new
        init generation starts at it (the other tracks follow from its time)."""
        sample.starts_segment = self._boundaries.is_segment_start(sample.pts, sample.keyframe)
        generation = False
        if sample.starts_segment:
            self.boundary_times.append(sample.pts)
            generation, self._generation_pending = self._generation_pending, False
        self._leader_progress = max(self._leader_progress, sample.dts)
        return generation

    def decide(self, output: TrackOutput, sample: PendingSample, *, leader: bool) -> bool:
        """Decide whether `sample` (a fragment's first) starts a segment; False = not yet known."""
        if sample.starts_segment is not None:
            return True
        if leader:  # audio-only: the audio fragments are the decision points
            sample.starts_segment = self._boundaries.is_segment_start(sample.pts, True)
            if sample.starts_segment:
                self.boundary_times.append(sample.pts)
            return True
        claimed = output.segments_claimed
        if claimed < len(self.boundary_times):
            boundary = self.boundary_times[claimed]
            eligible = output.kind == "audio" or sample.keyframe
            sample.starts_segment = claimed == 0 or (eligible and sample.pts >= boundary - BOUNDARY_TOLERANCE)
            if sample.starts_segment:
                output.segments_claimed += 1
            return True
        if self.leader_done or self._leader_progress >= sample.pts + BOUNDARY_TOLERANCE:
            sample.starts_segment = False
            return True
        return False

    def new_generation(self) -> None:
        """The leader changed format: its next keyframe starts a segment and a new generation."""
        self._boundaries.reset()
        self._generation_pending = True

    def reset(self) -> None:
        """Start over after a discontinuity: the next keyframe starts a segment."""
        self._boundaries.reset()
        self.boundary_times = []
        self._leader_progress = float("-inf")
        self.leader_done = False
        self._generation_pending = False
