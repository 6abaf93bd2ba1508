"""What a finished recording's video row says about it: duration, size, picture size.

Read from the index (`read_recording`: one line per segment, a crashed recording's last
opened segment recovered from its fragments) and the first video init segment, never from
the media themselves: a 4-hour recording is 7,200 index lines and one init, so finalizing
it reads kilobytes, not gigabytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from packager.recording_layout import Recording, read_recording

SAMPLE_ENTRIES = (b"avc1", b"avc3", b"hvc1", b"hev1")
SIZE_OFFSET = 28  # from a visual sample entry's type: reserved(6) + index(2) + pre_defined/reserved(16)


@dataclass(frozen=True)
class RecordingSummary:
    duration: float  # seconds
    size: int  # bytes of media and init segments
    width: int | None
    height: int | None


def summarize(directory: Path) -> RecordingSummary:
    recording = read_recording(directory)
    width, height = picture_size(recording) or (None, None)
    return RecordingSummary(recording.duration, recording.size, width, height)


def picture_size(recording: Recording) -> tuple[int, int] | None:
    """The width and height the first video init segment's sample entry tells."""
    segments = recording.tracks.get("video")
    if not segments:
        return None
    try:
        init = (recording.directory / segments[0].init).read_bytes()
    except OSError:
        return None
    for entry in SAMPLE_ENTRIES:
        at = init.find(entry)
        if at >= 4 and len(init) >= at + SIZE_OFFSET + 4:
            width = int.from_bytes(init[at + SIZE_OFFSET : at + SIZE_OFFSET + 2], "big")
            height = int.from_bytes(init[at + SIZE_OFFSET + 2 : at + SIZE_OFFSET + 4], "big")
            return (width, height) if width and height else None
    return None
