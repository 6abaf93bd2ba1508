"""Debian's ffmpeg as a broadcaster: a generated test pattern with a tone, pushed in real time."""

from __future__ import annotations

import subprocess


def ffmpeg_publish(
    url: str,
    *,
    seconds: float = 8,
    size: str = "320x240",
    rate: int = 25,
    gop: int = 25,
    video_codec: list[str] | None = None,
    audio_codec: list[str] | None = None,
    extra: list[str] | None = None,
    container: str = "flv",
    pattern: str = "testsrc2",
    sample_rate: int = 44100,
) -> subprocess.Popen:
    """Starts ffmpeg pushing `seconds` of a test pattern + sine (mono, `sample_rate` Hz) to
    `url`: FLV over RTMP, or `container="mpegts"` for SRT (`srt://…?streamid=…`)."""
    video_codec = video_codec or [
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
        "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0", "-pix_fmt", "yuv420p",
    ]
    audio_codec = audio_codec or ["-c:a", "aac", "-b:a", "64k"]
    command = [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
        "-f", "lavfi", "-i", f"{pattern}=size={size}:rate={rate}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={sample_rate}",
        "-t", str(seconds), *video_codec, *audio_codec, *(extra or []), "-f", container, url,
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
