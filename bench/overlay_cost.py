"""Cost of burning an overlay into the picture (transcode/overlay.py): a 600×200 lower third
composited onto every decoded 1080p frame, against a plain copy of the same frame and one
rendition's scaling of it to 720p, measured on the same frames in the same run.

Run: python -m bench.overlay_cost [frames] [--smoke]. The overlay is what a producer's lower
third looks like: a half-transparent dark band, opaque white bars (text), soft edges and
transparent corners. Each figure is the median over the frames, in ms per frame, timed right
after each frame is decoded (so the copy a decoder's reference frame needs before it is
drawn on is counted, as in the worker). The issue's bound: ≤ 1.5 ms per 1080p frame. The
cost of a new image (once a second at most; on the compositor's own thread in the worker) is
reported apart, for the lower third and for a full-frame page with a clock in a corner.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import smoke
from transcode.overlay import Compositor, Placement, encode_png

OVERLAY = (600, 200)


def lower_third(width: int, height: int, tick: int = 0) -> bytes:
    """The lower third; `tick` moves a white dot along its top (a clock's new image)."""
    image = np.zeros((height, width, 4), np.uint8)
    image[20 : height - 20, 10 : width - 10] = (10, 20, 60, 180)  # the band, half transparent
    for row in range(50, height - 50, 40):  # "text": opaque white bars
        image[row : row + 20, 40 : width - 120] = (255, 255, 255, 255)
    image[18:20, 10 : width - 10, 3] = 90  # soft top and bottom edges
    image[height - 20 : height - 18, 10 : width - 10, 3] = 90
    image[30, 20 + tick % (width - 40)] = (255, 255, 255, 255)
    return encode_png(image)


def full_frame_clock(width: int, height: int) -> bytes:
    """A `stretch` page: a clock in the top-right corner of an otherwise transparent frame."""
    image = np.zeros((height, width, 4), np.uint8)
    image[40:130, width - 360 : width - 40] = (0, 0, 0, 128)
    image[60:110, width - 340 : width - 60] = (255, 255, 255, 255)
    return encode_png(image)


def new_image_cost(png: bytes, placement: Placement, size: tuple[int, int]) -> tuple[float, float]:
    """ms to decode a new image and to convert it for frames of `size` (the compositor's thread
    does both in the worker)."""
    compositor = Compositor()
    compositor.apply(av.VideoFrame(size[0], size[1], "yuv420p"))  # the frames' geometry, known
    started = time.perf_counter()
    compositor.set_image(1, png)
    decoded = time.perf_counter()
    compositor.place(1, placement)
    return (decoded - started) * 1000, (time.perf_counter() - decoded) * 1000


def make_source(directory: Path, frames: int, size: tuple[int, int]) -> Path:
    path = directory / "source.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={size[0]}x{size[1]}:rate=30",
            "-frames:v",
            str(frames),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "60",
            "-pix_fmt",
            "yuv420p",
            str(path),
        ],
        check=True,
    )
    return path


def timed(action, frame) -> float:
    started = time.perf_counter()
    action(frame)
    return (time.perf_counter() - started) * 1000


def measure(source: Path, size: tuple[int, int]) -> dict[str, list[float]]:
    compositor = Compositor()
    png = lower_third(*OVERLAY)
    started = time.perf_counter()
    compositor.set_image(1, png)
    compositor.place(1, Placement(x=100, y=size[1] - OVERLAY[1] - 60, width=OVERLAY[0], height=OVERLAY[1]))
    figures: dict[str, list[float]] = {
        "decode PNG": [(time.perf_counter() - started) * 1000],
        "copy": [],
        "scale": [],
        "composite": [],
    }
    scaler = VideoReformatter()
    scaled = (size[0] * 2 // 3 // 2 * 2, size[1] * 2 // 3 // 2 * 2)
    with av.open(str(source)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            figures["copy"].append(timed(lambda f: [bytes(plane) for plane in f.planes], frame))
            figures["scale"].append(timed(lambda f: scaler.reformat(f, width=scaled[0], height=scaled[1]), frame))
            if index == 0:  # the image's conversion for this frame size, once
                figures["convert"] = [timed(compositor.apply, frame)]
                continue
            figures["composite"].append(timed(compositor.apply, frame))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("frames", type=int, nargs="?", default=300)
    smoke.add_flag(parser)
    args = parser.parse_args()
    frames, size = (10, smoke.CLIP_SIZE) if args.smoke else (args.frames, (1920, 1080))
    with tempfile.TemporaryDirectory() as temp:
        figures = measure(make_source(Path(temp), frames, size), size)
    median = {name: statistics.median(values) for name, values in figures.items()}
    print(f"source: {size[1]}p H.264, {frames} frames; overlay {OVERLAY[0]}x{OVERLAY[1]} (band, text, soft edges)")
    print(f"plain frame copy (reference)  : {median['copy']:.3f} ms per frame")
    print(f"scale to 2/3 size (reference) : {median['scale']:.3f} ms per frame")
    print(f"composite the overlay         : {median['composite']:.3f} ms per frame")
    print(f"ratio composite / frame copy  : {smoke.ratio(median['composite'], median['copy']):.2f}")
    print(f"a new image: PNG decode {median['decode PNG']:.1f} ms, conversion {median['convert']:.1f} ms (once each)")
    decode, convert = new_image_cost(full_frame_clock(*size), Placement(0, 0, *size, stretch=True), size)
    print(
        f"a new full-frame clock page (stretch): PNG decode {decode:.1f} ms, conversion {convert:.1f} ms"
        " (on the compositor's thread)"
    )


if __name__ == "__main__":
    main()
