"""Audio that comes before the first video segment boundary waits for it.

Why: an encoder's audio often starts before its first video keyframe, and every track's first
segment starts at the leader's first boundary (`packager.segment_decisions`). Until the leading
video track has decided that boundary nobody knows whether an audio packet falls before it
(dropped: the segment would otherwise start with audio and no picture) or after it (fed to
the audio track). So the audio is held, MAX_EARLY_AUDIO packets at most (the oldest go first),
and released once the boundary is known.
"""

from __future__ import annotations

from collections import deque

from packager.cmaf import Frame
from packager.segment_decisions import BOUNDARY_TOLERANCE, SegmentDecisions
from packager.track import PendingSample, TrackOutput

MAX_EARLY_AUDIO = 500  # audio packets held while waiting for the first video keyframe


class AudioHold:
    def __init__(self, decisions: SegmentDecisions) -> None:
        self._decisions = decisions
        self._held: deque[tuple[Frame, PendingSample]] = deque()

    def __bool__(self) -> bool:
        return bool(self._held)

    def hold(self, audio: TrackOutput, frame: Frame, sample: PendingSample) -> None:
        """Feed the audio track once the first boundary is known (dropping what comes before
        it), else hold the packet."""
        boundaries = self._decisions.boundary_times
        if boundaries:
            if sample.pts < boundaries[0] - BOUNDARY_TOLERANCE:
                return
            audio.started = True
            audio.feed(frame, sample)
            return
        self._held.append((frame, sample))
        if len(self._held) > MAX_EARLY_AUDIO:
            self._held.popleft()

    def release(self, audio: TrackOutput) -> None:
        """Once the first boundary is known, the held packets go to the audio track (or away)."""
        if not self._decisions.boundary_times:
            return
        while self._held:
            frame, sample = self._held.popleft()
            self.hold(audio, frame, sample)

    def clear(self) -> None:
        self._held.clear()
