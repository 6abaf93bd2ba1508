"""Clips for the packager tests: made once per session with ffmpeg (libx264 + AAC)."""

from __future__ import annotations

import pytest
from packager_testkit import make_clip


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("packager-media")


@pytest.fixture(scope="session")
def clip_1s_gop(media_dir):
    """6 s, 25 fps, a keyframe every second, FLV (what the RTMP ingest hands the worker)."""
    return make_clip(media_dir / "gop1.flv", gop=25)


@pytest.fixture(scope="session")
def clip_30fps(media_dir):
    """6 s, 30 fps, a keyframe every 2 s, no B-frames, FLV: as OBS sends by default. FLV
    timestamps are whole milliseconds, so frames last 33, 33, 34 ms."""
    return make_clip(media_dir / "30fps.flv", gop=60, rate=30, b_frames=False)


@pytest.fixture(scope="session")
def clip_3s_gop(media_dir):
    """7 s with 3 s GOPs: longer than the 2 s segment target."""
    return make_clip(media_dir / "gop3.flv", gop=75, seconds=7)


@pytest.fixture(scope="session")
def clip_two_sizes(media_dir):
    """One source encoded at two sizes with the same GOP: two renditions + audio (MPEG-TS)."""
    return make_clip(media_dir / "two.ts", gop=25, sizes=("320x240", "160x120"))
