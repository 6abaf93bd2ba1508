"""What one HTML overlay costs a transcoded stream: the worker on a 1080p30 clip with a
3-rung ladder, without overlays (the reference) and with a 600×200 lower third that changes
every second, in one run, for two ladders.

Run: python -m bench.overlay_stream_cost [--seconds 12] [--preset superfast] [--smoke]. The
clip is bench/transcode_cost.py's, fed as the node feeds a worker. With html_overlay on, the
origin is encoded from the composited picture (issue 21: every variant shows the overlay):
with a 1080p/720p/480p ladder it takes the 1080p rung's place (the same picture, encoded
once); with 720p/480p/360p it is a fourth encode. The issue's bound: with the overlay ≤ 1.15×
the same stream and ladder without it.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import smoke  # noqa: E402
from bench.clips import make_clip  # noqa: E402
from bench.overlay_cost import lower_third  # noqa: E402
from bench.transcode_cost import measure, worker_config  # noqa: E402
from transcode.contract import (  # noqa: E402
    InputData,
    SetOverlay,
    StartInput,
    WorkerConfig,
    encode_command,
    worker_input,
)
from transcode.ladder import Rendition  # noqa: E402
from transcode.pipe_input import READ_SIZE  # noqa: E402


def worker_stdin(config: WorkerConfig, clip: Path, images: list[bytes]) -> Iterator[bytes]:
    """The clip as the node feeds it, with a new overlay image every second of media (the
    clip's bytes split evenly: FLV at a steady bitrate) when `images` are given."""
    yield worker_input(config, StartInput("flv"))
    data = clip.read_bytes()
    every = len(data) // max(1, len(images)) if images else len(data) + 1
    sent = 0
    for offset in range(0, len(data), READ_SIZE):
        if images and offset >= sent * every and sent < len(images):
            yield encode_command(
                SetOverlay(
                    overlay_id=1, x=100, y=800, width=600, height=200, png=base64.b64encode(images[sent]).decode()
                )
            )
            sent += 1
        yield encode_command(InputData(data[offset : offset + READ_SIZE]))


def run(clip: Path, config: WorkerConfig, images: list[bytes]) -> float:
    cpu, _ = measure([sys.executable, "-m", "transcode.worker", *config.labels()], worker_stdin(config, clip, images))
    return cpu


# The 3-rung ladder for a 1080p source, its top rung at the source's size (with the
# overlay on, the origin takes that rung's place: one encode of that picture), and the
# transcode benchmarks' ladder, which has no such rung (the origin is then a fourth encode).
LADDERS = {
    "1080p/720p/480p": [("1080p", 1920, 1080, 6000), ("720p", 1280, 720, 3000), ("480p", 854, 480, 1500)],
    "720p/480p/360p": [("720p", 1280, 720, 3000), ("480p", 854, 480, 1500), ("360p", 640, 360, 800)],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=12)
    parser.add_argument("--preset", default="superfast")
    smoke.add_flag(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-overlay-") as work:
        if args.smoke:
            seconds, size = smoke.CLIP_SECONDS, smoke.CLIP_SIZE
            clip = make_clip(seconds, size=size, directory=Path(work))
        else:
            seconds, size = args.seconds, (1920, 1080)
            clip = make_clip(seconds)
        images = [lower_third(600, 200, tick=second) for second in range(seconds)]  # each one new
        out = Path(work) / "out"
        figures = {}
        for ladder, rungs in LADDERS.items():
            renditions = [Rendition(name=n, width=w, height=h, video_bitrate=b) for n, w, h, b in rungs]
            for name, overlays, sent in (("reference", False, []), ("lower third", True, images)):
                shutil.rmtree(out, ignore_errors=True)
                config = dataclasses.replace(worker_config(out, args.preset), overlays=overlays, renditions=renditions)
                figures[ladder, name] = run(clip, config, sent) / seconds
    print(f"clip: {seconds} s {size[1]}p30, x264 {args.preset}; overlay 600x200, a new image each second")
    for ladder in LADDERS:
        reference, overlaid = figures[ladder, "reference"], figures[ladder, "lower third"]
        print(f"{ladder}, no overlays (reference): {reference:.3f} CPU-s per media s")
        print(f"{ladder}, one lower third        : {overlaid:.3f} CPU-s per media s")
        print(f"{ladder}, ratio lower third / reference: {smoke.ratio(overlaid, reference):.2f}")


if __name__ == "__main__":
    main()
