"""A clip's segments copied out of a live DVR window into a recording.

The node lists a window's complete segments as `hls.Entry`s (PROGRAM-DATE-TIME, EXTINF and
URI lines, the map); a clip takes those that overlap its span, whole (segments start on
keyframes, so a clip may start up to a segment early and end up to one late). Each is copied
(`shutil.copyfile`: sendfile in the kernel; never a hard link, the live output opens its
files with O_TRUNC) with its init into the layout of `packager/recording_layout.py`, and its
index line is made by reading the copy back (`recover`: exact start, ticks and size), so the
video library's readers (`vod_hls`, `vod_mp4`) play it as any recording.

Blocking: call it on a thread. A segment the window deleted before it was copied is skipped
(the clip is shorter, as the SDK allows).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from packager.hls import Entry
from packager.recording_layout import IndexWriter, RecordedSegment, recover

PROGRAM_DATE_TIME = "#EXT-X-PROGRAM-DATE-TIME:"


@dataclass(frozen=True)
class WindowSegment:
    """One complete segment of a live playlist, as a clip needs it: paths relative to the
    stream's live directory, `wall_clock` its PROGRAM-DATE-TIME (unix seconds)."""

    msn: int
    path: str
    init: str
    wall_clock: float
    duration: float
    discontinuity: bool

    @property
    def end(self) -> float:
        return self.wall_clock + self.duration


def window_segment(entry: Entry, playlist_dir: str) -> WindowSegment | None:
    """The segment an entry lists; None for a gap or an entry without a date."""
    lines = entry.lines.splitlines()
    if "#EXT-X-GAP" in lines or not lines or not lines[0].startswith(PROGRAM_DATE_TIME):
        return None
    moment = datetime.fromisoformat(lines[0].removeprefix(PROGRAM_DATE_TIME).replace("Z", "+00:00"))
    return WindowSegment(
        entry.msn,
        f"{playlist_dir}/{lines[-1]}",
        f"{playlist_dir}/{entry.map_uri}",
        moment.timestamp(),
        entry.duration,
        entry.discontinuity,
    )


def overlapping(segments: list[WindowSegment], start: float, end: float) -> list[WindowSegment]:
    """The segments that hold any of [start, end): whole, so keyframe to keyframe."""
    return [s for s in segments if s.end > start and s.wall_clock < end]


class ClipTrackCopy:
    """One track of one clip recording: copies segments in, numbered as the recorder does."""

    def __init__(self, live_dir: Path, index: IndexWriter, track: str) -> None:
        self.live_dir = live_dir
        self.index = index
        self.track = track
        self.inits: dict[str, str] = {}  # live init path → its name in the recording
        self.count = 0
        self.last_msn: int | None = None  # the last copied
        self.seen = -1  # the last tried (copied or gone)

    def copy(self, segment: WindowSegment) -> bool:
        """Copies one segment (and its init, the first time); False when the window no longer has it."""
        self.seen = segment.msn
        directory = self.index.directory
        (directory / self.track).mkdir(exist_ok=True)
        try:
            init = self.inits.get(segment.init)
            if init is None:
                init = f"{self.track}/init_{len(self.inits)}.mp4"
                shutil.copyfile(self.live_dir / segment.init, directory / init)
                self.inits[segment.init] = init
            name = f"{self.track}/{self.count}.m4s"
            shutil.copyfile(self.live_dir / segment.path, directory / name)
        except FileNotFoundError:
            return False
        follows = self.last_msn is None or segment.msn == self.last_msn + 1
        opened = RecordedSegment(
            self.track,
            name,
            init,
            wall_clock=segment.wall_clock,
            discontinuity=self.count > 0 and (segment.discontinuity or not follows),
        )
        found = recover(directory, opened)
        if found is None:
            return False
        self.index.append(found)
        self.count += 1
        self.last_msn = segment.msn
        return True
