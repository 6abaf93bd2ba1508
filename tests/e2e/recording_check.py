"""Helpers of the recording tests: a publisher whose every frame tells its number, and the
frames of a recording decoded from its files (init + segments of each run sharing an init,
as a player appends them), without the video library's playback."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import av
import numpy

from packager.recording_layout import read_recording
from tests.support.publisher import ffmpeg_publish

CYCLE = 100  # frame numbers repeat every CYCLE frames (4 s at 25 fps)


def numbered_publish(url: str, seconds: float, **kwargs) -> subprocess.Popen:
    """ffmpeg pushing flat frames whose luma is 16 + 2 × (frame number mod CYCLE), GOP 1 s."""
    return ffmpeg_publish(
        url,
        seconds=seconds,
        size="160x120",
        extra=["-vf", f"geq=lum='16+2*mod(N\\,{CYCLE})':cb=128:cr=128"],
        **kwargs,
    )


def frame_number(frame: av.VideoFrame) -> int:
    luma = frame.to_ndarray()[: frame.height]  # the Y plane of yuv420p, as coded
    return round((float(numpy.mean(luma)) - 16) / 2) % CYCLE


def recorded_frames(directory: Path) -> list[tuple[float, int]]:
    """(presentation time, frame number) of every video frame of the recording, in order."""
    recording = read_recording(directory)
    runs: list[list] = []
    for segment in recording.tracks.get("video", []):
        if not runs or segment.discontinuity or segment.init != runs[-1][0].init:
            runs.append([])
        runs[-1].append(segment)
    frames = []
    for run in runs:
        data = (directory / run[0].init).read_bytes() + b"".join(
            (directory / s.file).read_bytes()[: s.size]
            for s in run  # a crash's torn tail is left out
        )
        with av.open(io.BytesIO(data)) as container:
            decoded = sorted(container.decode(video=0), key=lambda f: f.pts)
            frames += [(float(f.time), frame_number(f)) for f in decoded]
    return frames


def jumps(numbers: list[int]) -> list[int]:
    """Indexes where the frame number does not follow on by one (a frame lost or repeated)."""
    return [i for i in range(1, len(numbers)) if (numbers[i] - numbers[i - 1]) % CYCLE != 1]


def played_frames(url: str) -> list[tuple[float, int]]:
    """(presentation time, frame number) of every video frame FFmpeg decodes from a URL the
    video library hands out (its MP4, or an HLS playlist of one run)."""
    with av.open(url) as container:
        decoded = sorted(container.decode(video=0), key=lambda f: f.pts)
        return [(float(f.time), frame_number(f)) for f in decoded]
