"""The benchmarks' shared source: a 1080p30 ~6 Mbit/s H.264 + AAC clip (FLV, as RTMP delivers it).

Encoded once per length under bench/out/ (not committed) with a 2 s GOP, so every benchmark
measures against the same bytes. Smoke runs (`--smoke`, see bench/smoke.py) ask for a small
one in their own temp directory instead.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
GOP = 60  # 2 s at 30 fps
FULL_HD = (1920, 1080)
BITRATE = 6_000_000  # bit/s of video, the default clip's


def make_clip(seconds: int, *, size: tuple[int, int] = FULL_HD, directory: Path = OUT, bitrate: int = BITRATE) -> Path:
    """`bitrate`: the video's (a load generator that should weigh like a contribution feed of
    its size asks for less than the 1080p default)."""
    width, height = size
    rate = "" if bitrate == BITRATE else f"_{bitrate // 1000}k"
    clip = directory / f"clip_{height}p30_{seconds}s{rate}.flv"
    if clip.exists():
        return clip
    directory.mkdir(parents=True, exist_ok=True)
    print(f"encoding {clip.name} once (x264 veryfast, {bitrate / 1e6:g} Mbit/s, 2 s GOP)...", flush=True)
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={width}x{height}:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            str(seconds),
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-b:v",
            str(bitrate),
            "-maxrate",
            str(bitrate),
            "-bufsize",
            str(2 * bitrate),
            "-g",
            str(GOP),
            "-keyint_min",
            str(GOP),
            "-sc_threshold",
            "0",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            str(clip),
        ],
        check=True,
    )
    return clip
