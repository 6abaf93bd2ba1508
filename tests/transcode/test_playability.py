"""Which sources most players cannot decode, read from the stream as the worker sees it."""

from __future__ import annotations

import io
import subprocess

import av
import pytest

from transcode.playability import playability_warning, sampling


@pytest.mark.parametrize(
    ("pixel_format", "expected"),
    [
        ("yuv420p", (8, "4:2:0")),
        ("yuvj420p", (8, "4:2:0")),
        ("nv12", (8, "4:2:0")),
        ("yuv420p10le", (10, "4:2:0")),
        ("p010le", (10, "4:2:0")),
        ("yuv422p", (8, "4:2:2")),
        ("yuv444p", (8, "4:4:4")),
        ("yuv444p10le", (10, "4:4:4")),
        ("gray", (8, "4:0:0")),
        ("rgb24", None),
        ("not-a-format", None),
    ],
)
def test_sampling(pixel_format, expected):
    assert sampling(pixel_format) == expected


def h264(*options: str) -> bytes:
    return subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=64x64:rate=10",
            "-t",
            "0.5",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            *options,
            "-f",
            "flv",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout


@pytest.mark.parametrize(
    ("options", "warned"),
    [
        (["-pix_fmt", "yuv420p"], None),
        (["-pix_fmt", "yuv420p10le", "-profile:v", "high10"], "H.264 High 10, 10-bit 4:2:0 (yuv420p10le)"),
        (["-pix_fmt", "yuv444p"], "H.264 High 4:4:4 Predictive, 8-bit 4:4:4 (yuv444p)"),
        (["-pix_fmt", "yuv422p10le"], "H.264 High 4:2:2, 10-bit 4:2:2 (yuv422p10le)"),
    ],
)
def test_h264_other_than_8_bit_4_2_0_is_warned_about(options, warned):
    with av.open(io.BytesIO(h264(*options)), format="flv") as container:
        video = container.streams.video[0]
        origin_only, transcoded = playability_warning(video, False), playability_warning(video, True)
    if warned is None:
        assert origin_only is None and transcoded is None
        return
    assert warned in origin_only and "need 8-bit 4:2:0" in origin_only
    assert "a quality set adds 8-bit 4:2:0 renditions" in origin_only
    assert "the renditions are 8-bit 4:2:0" in transcoded


def test_no_video_no_warning():
    assert playability_warning(None, False) is None
