"""A benchmark publisher: numbered frames, encoded and pushed over RTMP in real time.

Python draws each frame (with its number, see framecode) and hands it to Debian's ffmpeg,
which encodes once with x264 zerolatency and pushes to every URL through the `tee` muxer.
`sent_at[n]` is when frame n was handed over; ffmpeg's encode time therefore counts against
the server being measured, which errs on the safe side.
"""

from __future__ import annotations

import subprocess
import threading
import time

import numpy as np

from bench.framecode import stamp

MOTION_ROWS = 40  # rows below the frame code that change every frame


class NumberedPublisher(threading.Thread):
    def __init__(
        self, urls: list[str], *, width=640, height=360, fps=25, gop_seconds=2.0, bitrate="1500k", seconds=40.0
    ) -> None:
        super().__init__(daemon=True)
        self.urls, self.width, self.height, self.fps = urls, width, height, fps
        self.gop = int(gop_seconds * fps)
        self.bitrate, self.seconds = bitrate, seconds
        self.sent_at: dict[int, float] = {}
        self.started_at: float | None = None
        self.error: str | None = None

    def command(self) -> list[str]:
        outputs = "|".join(f"[f=flv:onfail=ignore]{url}" for url in self.urls)
        return [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-s",
            f"{self.width}x{self.height}",
            "-r",
            str(self.fps),
            "-i",
            "-",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-pix_fmt",
            "yuv420p",
            "-g",
            str(self.gop),
            "-keyint_min",
            str(self.gop),
            "-sc_threshold",
            "0",
            "-b:v",
            self.bitrate,
            "-flags",
            "+global_header",
            "-map",
            "0:v",
            "-f",
            "tee",
            outputs,
        ]

    def run(self) -> None:
        process = subprocess.Popen(self.command(), stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        luma = np.full((self.height, self.width), 96, np.uint8)
        self.started_at = time.monotonic()
        try:
            for index in range(int(self.seconds * self.fps)):
                delay = self.started_at + index / self.fps - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                luma[MOTION_ROWS:, :] = (index * 3) % 200 + 20
                stamp(luma, index)
                process.stdin.write(luma.tobytes())
                process.stdin.flush()
                self.sent_at[index] = time.monotonic()
        except BrokenPipeError:
            pass
        finally:
            process.stdin.close()
            process.wait()
            if process.returncode:
                self.error = process.stderr.read().decode()
