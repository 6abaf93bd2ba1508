"""The e2e tests' init-segment checker (`tests/support/init_conformance.py`) reads what FFmpeg
writes, and fails on an init whose fields disagree with its decoder configuration.

Stereo only: Debian's FFmpeg 5.1 writes channelcount 2 for mono AAC in MP4 (newer FFmpeg, as
PyAV bundles, writes the real count), which the checker rightly refuses."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.init_conformance import boxes, check_init, read_init


def fragmented_mp4(path: Path, *, size: str, profile: str, rate: int, channels: int) -> bytes:
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={size}:rate=25",
            "-f",
            "lavfi",
            "-i",
            f"sine=sample_rate={rate}",
            "-t",
            "1",
            "-ac",
            str(channels),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-profile:v",
            profile,
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-movflags",
            "frag_keyframe+empty_moov+default_base_moof",
            str(path),
        ],
        check=True,
    )
    return path.read_bytes()


@pytest.mark.parametrize(
    ("size", "profile", "rate", "channels"),
    [
        ("1920x1080", "high", 48000, 2),  # cropped to 1080 from 1088
        ("854x480", "main", 44100, 2),
        ("318x182", "baseline", 22050, 2),
    ],
)
def test_ffmpeg_inits_conform(tmp_path, size, profile, rate, channels):
    data = fragmented_mp4(tmp_path / "a.mp4", size=size, profile=profile, rate=rate, channels=channels)
    video, audio = split_tracks(data)
    facts = check_init(video)
    assert facts.sps_size == tuple(int(v) for v in size.split("x"))
    facts = check_init(audio)
    assert (facts.timescale, facts.audio.sample_rate, facts.audio.channels) == (rate, rate, channels)


def test_an_init_that_disagrees_with_its_config_fails(tmp_path):
    data = fragmented_mp4(tmp_path / "a.mp4", size="320x240", profile="high", rate=48000, channels=2)
    _, audio = split_tracks(data)
    entry = audio.index(b"mp4a") - 4
    lying = bytearray(audio)
    lying[entry + 24 : entry + 26] = (1).to_bytes(2, "big")  # channelcount 1 for a stereo config
    assert read_init(bytes(lying)).channel_count == 1
    with pytest.raises(AssertionError, match="channelcount"):
        check_init(bytes(lying))
    video, _ = split_tracks(data)
    entry = video.index(b"avc1") - 4
    lying = bytearray(video)
    lying[entry + 32 : entry + 34] = (640).to_bytes(2, "big")  # width
    with pytest.raises(AssertionError, match="avc1 says 640x240"):
        check_init(bytes(lying))


def split_tracks(data: bytes) -> tuple[bytes, bytes]:
    """Two single-track inits (video, audio) from a two-track ftyp+moov, by dropping the other trak."""
    ftyp_end = next(end for kind, _, end in boxes(data) if kind == "ftyp")
    moov = next((payload, end) for kind, payload, end in boxes(data) if kind == "moov")
    children = [(kind, data[payload - 8 : end]) for kind, payload, end in boxes(data, *moov)]
    traks = [box for kind, box in children if kind == "trak"]
    rest = b"".join(box for kind, box in children if kind != "trak")
    inits = []
    for trak in traks:
        body = trak + rest
        inits.append(data[:ftyp_end] + (8 + len(body)).to_bytes(4, "big") + b"moov" + body)
    return inits[0], inits[1]
