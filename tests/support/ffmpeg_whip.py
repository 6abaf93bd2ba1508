"""FFmpeg's `whip` muxer (PyAV's bundled FFmpeg 8) as a WHIP publisher, run as a subprocess.

`python -m tests.support.ffmpeg_whip URL TOKEN SECONDS CERT KEY`: libx264 without B-frames and
libopus at 48 kHz, in real time. The muxer adds `Bearer ` to the token itself and sends DELETE
on close. DTLS with aiortc needs an ECDSA P-256 certificate (`ecdsa_certificate`).
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np

RATE = 25
SAMPLE_RATE = 48000
OPUS_FRAME = 960


def ecdsa_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "whip.crt", directory / "whip.key"
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)], check=True)
    subprocess.run(
        [
            "openssl",
            "req",
            "-new",
            "-x509",
            "-key",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=headwater-test",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def publish(url: str, token: str, seconds: float, cert: str, key: str) -> int:
    out = av.open(url, "w", format="whip", options={"authorization": token, "cert_file": cert, "key_file": key})
    video = out.add_stream("libx264", rate=RATE)
    video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
    video.codec_context.options = {"bf": "0", "g": str(RATE), "preset": "ultrafast", "tune": "zerolatency"}
    audio = out.add_stream("libopus", rate=SAMPLE_RATE)
    audio.layout, audio.bit_rate = "stereo", 64000
    start, frames, samples = time.monotonic(), 0, 0
    while frames < seconds * RATE:
        image = np.full((120, 160, 3), (frames * 4) % 256, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = frames
        for packet in video.encode(frame):
            out.mux(packet)
        while samples < (frames + 1) * SAMPLE_RATE // RATE:
            t = (np.arange(OPUS_FRAME) + samples) / SAMPLE_RATE
            tone = (np.sin(2 * math.pi * 440 * t) * 0.3).astype(np.float32)
            chunk = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
            chunk.sample_rate, chunk.pts = SAMPLE_RATE, samples
            for packet in audio.encode(chunk):
                out.mux(packet)
            samples += OPUS_FRAME
        frames += 1
        time.sleep(max(0.0, start + frames / RATE - time.monotonic()))
    out.close()
    return 0


if __name__ == "__main__":
    url, token, seconds, cert, key = sys.argv[1:6]
    sys.exit(publish(url, token, float(seconds), cert, key))
