"""A recording on disk: what the worker's recorder writes and the node's video library reads.

```
recordings/<key>/
  index.jsonl              one line per event below, appended (and fsynced) as it happens
  video/init_<n>.mp4       the init segments, one per init generation recorded
  video/<n>.m4s            CMAF segments (prft+moof+mdat per part), copied part by part
  audio/...                the same for the audio track
```

The segment files are the recorder's own copies, written part by part as the live output
announces them, so a worker or node killed mid-segment leaves every written part on disk.
Each segment has two index lines: one when it opens (`complete` false: where it is and which
init it needs) and one when it completes (its timing and size). A segment that only opened is
recovered by reading its complete fragments back (`recover`), so a crash loses at most the
part being written. Nothing here knows who the recording belongs to: the node maps a key to a
video.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from packager.isobmff import BoxError, BoxHeader, parse_init, read_box_header
from packager.moof import parse_fragment

INDEX_NAME = "index.jsonl"
TRACKS = ("video", "audio")


@dataclass(frozen=True)
class RecordedSegment:
    """One segment of one track: files relative to the recording's directory, times in ticks
    of the track's timescale. `discontinuity`: it does not follow on from the one before it
    (a new worker, a source switch, a new init). Playback times come from `ticks`; `start` is
    where the live output placed the segment (a recovered one: its first decode time, which
    can be a frame or two earlier with B-frames)."""

    track: str
    file: str
    init: str
    start: int = 0
    ticks: int = 0
    timescale: int = 1
    size: int = 0
    wall_clock: float = 0.0
    discontinuity: bool = False
    complete: bool = False

    @property
    def duration(self) -> float:
        return self.ticks / self.timescale

    def line(self) -> bytes:
        return (json.dumps(asdict(self), separators=(",", ":")) + "\n").encode()


@dataclass(frozen=True)
class Recording:
    """What a recording's directory holds: each track's segments in order."""

    directory: Path
    tracks: dict[str, list[RecordedSegment]]

    @property
    def duration(self) -> float:
        """Seconds of media: the video track's, else the audio's."""
        for name in TRACKS:
            if self.tracks.get(name):
                return sum(segment.duration for segment in self.tracks[name])
        return 0.0

    @property
    def size(self) -> int:
        """Bytes of media and init segments."""
        inits = {(s.track, s.init) for segments in self.tracks.values() for s in segments}
        init_bytes = sum(_size(self.directory / init) for _, init in inits)
        return init_bytes + sum(s.size for segments in self.tracks.values() for s in segments)


class IndexWriter:
    """Appends index lines; `sync` makes what was appended durable."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(directory / INDEX_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def append(self, segment: RecordedSegment) -> None:
        os.write(self._fd, segment.line())

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_recording(directory: Path) -> Recording:
    """The recording as its index says, segments that only opened recovered from their files
    (those with no complete fragment left out), a torn last line ignored."""
    latest: dict[str, RecordedSegment] = {}
    for segment in _index_lines(directory / INDEX_NAME):
        latest.pop(segment.file, None)  # keep the order of the last line about each file
        latest[segment.file] = segment
    tracks: dict[str, list[RecordedSegment]] = {}
    for segment in latest.values():
        found = segment if segment.complete else recover(directory, segment)
        if found is not None and found.ticks > 0:
            tracks.setdefault(found.track, []).append(found)
    return Recording(directory, tracks)


def recover(directory: Path, opened: RecordedSegment) -> RecordedSegment | None:
    """An opened segment's complete fragments: their timing and the bytes they span (a torn
    fragment at the end is left out of `size`, not cut from the file)."""
    try:
        info = parse_init((directory / opened.init).read_bytes())
        data = (directory / opened.file).read_bytes()
    except (OSError, BoxError):
        return None
    start: int | None = None
    ticks = size = 0
    chunk_start = offset = 0
    while (box := _complete_box(data, offset)) is not None:
        offset = box.end
        if box.type != "mdat":
            continue
        try:
            fragment = parse_fragment(data[chunk_start : box.end], info.default_sample_duration)
        except BoxError:
            break
        start = fragment.base_decode_time if start is None else start
        ticks += fragment.duration
        size = chunk_start = box.end
    if start is None:
        return None
    return replace(opened, start=start, ticks=ticks, timescale=info.timescale, size=size, complete=True)


def _complete_box(data: bytes, offset: int) -> BoxHeader | None:
    """The box at `offset` if all of it is there (the last one may be torn)."""
    try:
        box = read_box_header(data, offset)
    except BoxError:
        return None
    return box if box is not None and box.end <= len(data) else None


def _index_lines(path: Path) -> list[RecordedSegment]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    segments = []
    for line in text.splitlines():
        try:
            segments.append(RecordedSegment(**json.loads(line)))
        except (ValueError, TypeError):
            continue  # a line torn by a crash
    return segments


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
