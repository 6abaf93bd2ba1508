"""A publisher that fills hours of a DVR window in minutes, then goes on in real time.

ffmpeg's `-re`/`-readrate` paces a whole run at one rate (and 5.1 has no initial burst), but
a full 4-hour window must be filled faster than real time and then measured while the
stream is live. So a short clip is encoded once to FLV, its tags are read here and repeated
with their timestamps moved on by the clip's length at each turn, and written to an
`ffmpeg -c copy` that pushes them over RTMP: `burst_rate` × real time for the first `burst`
seconds of media, then at the wall clock's pace. Nothing is encoded while it runs. (As fast as
the pipe takes them was too fast: the node restarts a worker that falls 32 MiB behind.)
"""

from __future__ import annotations

import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

FLV_HEADER = 9 + 4  # the file header and PreviousTagSize0
TAG_HEADER = 11
SCRIPT, VIDEO = 18, 9


def make_loop_clip(path: Path, *, seconds: int = 10, size: str = "320x180", rate: int = 10, gop: int = 20) -> Path:
    """A video-only H.264 FLV clip, GOP `gop` frames, no B-frames (it loops seamlessly)."""
    if not path.exists():
        source = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}", "-t", str(seconds)]
        x264 = [
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-b:v",
            "100k",
            "-pix_fmt",
            "yuv420p",
        ]
        gops = ["-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0"]
        subprocess.run(["ffmpeg", "-v", "error", "-y", *source, *x264, *gops, "-f", "flv", str(path)], check=True)
    return path


def read_tags(data: bytes) -> list[tuple[int, int, bytes]]:
    """(type, timestamp ms, payload) of every tag."""
    tags, at = [], FLV_HEADER
    while at + TAG_HEADER <= len(data):
        kind, size = data[at], int.from_bytes(data[at + 1 : at + 4], "big")
        stamp = int.from_bytes(data[at + 4 : at + 7], "big") | data[at + 7] << 24
        tags.append((kind, stamp, data[at + TAG_HEADER : at + TAG_HEADER + size]))
        at += TAG_HEADER + size + 4
    return tags


def tag(kind: int, stamp: int, payload: bytes) -> bytes:
    header = bytes([kind]) + len(payload).to_bytes(3, "big")
    header += (stamp & 0xFFFFFF).to_bytes(3, "big") + bytes([stamp >> 24 & 0xFF]) + b"\0\0\0"
    return header + payload + struct.pack(">I", TAG_HEADER + len(payload))


class PacedFlvPublisher(threading.Thread):
    """Pushes `clip` (from `make_loop_clip`) to `url` over and over: the first `burst` seconds
    of media at `burst_rate` × real time, then in real time, until `stop()`. `media_seconds`
    says how far it has got."""

    def __init__(self, url: str, clip: Path, burst: float, burst_rate: float = 40.0) -> None:
        super().__init__(daemon=True)
        self.url, self.burst, self.burst_rate = url, burst, burst_rate
        data = clip.read_bytes()
        self.header = data[:FLV_HEADER]
        tags = read_tags(data)
        self.prefix = [t for t in tags if t[0] == SCRIPT or (t[0] == VIDEO and t[2][1:2] == b"\0")]
        self.media = [t for t in tags if t not in self.prefix]
        frame = (self.media[-1][1] - self.media[0][1]) / max(1, len(self.media) - 1)
        self.clip_ms = round(self.media[-1][1] - self.media[0][1] + frame)
        self.media_seconds = 0.0
        self.error: str | None = None
        self._stopping = threading.Event()
        self.process: subprocess.Popen | None = None

    def stop(self) -> None:
        self._stopping.set()
        self.join(10)

    def run(self) -> None:
        self.process = subprocess.Popen(
            ["ffmpeg", "-v", "error", "-f", "flv", "-i", "-", "-c", "copy", "-f", "flv", self.url],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(self.header + b"".join(tag(*t) for t in self.prefix))
            started = time.monotonic()
            real_time_from: float | None = None
            for stamp, chunk in self._chunks():
                if self._stopping.is_set():
                    break
                if stamp / 1000 < self.burst:
                    due = started + stamp / 1000 / self.burst_rate
                else:
                    if real_time_from is None:
                        real_time_from = time.monotonic() - stamp / 1000
                    due = real_time_from + stamp / 1000
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                self.process.stdin.write(chunk)
                self.media_seconds = stamp / 1000
        except (BrokenPipeError, OSError) as error:
            self.error = f"{error}: {self.process.stderr.read().decode() if self.process.stderr else ''}"
        finally:
            self.process.stdin.close()
            self.process.wait(10)

    def _chunks(self) -> Iterator[tuple[int, bytes]]:
        """(timestamp, bytes) of one turn of the clip at a time in the burst (one write per
        turn), of each tag once in real time."""
        turn = 0
        while True:
            shift = turn * self.clip_ms
            tags = [tag(kind, stamp + shift, payload) for kind, stamp, payload in self.media]
            if shift / 1000 < self.burst:
                yield shift, b"".join(tags)
            else:
                yield from ((stamp + shift, data) for (_, stamp, _), data in zip(self.media, tags, strict=True))
            turn += 1
