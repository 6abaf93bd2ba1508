"""What one HTML overlay costs a transcoded stream: the worker on a 1080p30 clip with a
720p/480p/360p ladder, without overlays (the reference), with html_overlay on and no image,
and with a 600×200 lower third, in one run.

Run: python -m bench.overlay_stream_cost [--seconds 12] [--preset superfast] [--smoke]. The
clip and the ladder are bench/transcode_cost.py's, fed as the node feeds a worker. With
html_overlay on, the origin is re-encoded at the source's size (issue 21: every variant shows
the overlay), so the figure splits in two: what re-encoding the origin costs (on, no image)
and what drawing the overlay costs on top (a new image every second, as a clock sends). The
issue's bound: with the overlay ≤ 1.15× the same stream and ladder without it.
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
        for name, overlays, sent in (
            ("reference", False, []),
            ("on, no image", True, []),
            ("lower third", True, images),
        ):
            shutil.rmtree(out, ignore_errors=True)
            config = dataclasses.replace(worker_config(out, args.preset), overlays=overlays)
            figures[name] = run(clip, config, sent) / seconds
    print(
        f"clip: {seconds} s {size[1]}p30 → 720p/480p/360p, x264 {args.preset}; overlay 600x200, a new image each second"
    )
    print(f"ladder, no overlays (reference)        : {figures['reference']:.3f} CPU-s per media s")
    print(f"html_overlay on, origin re-encoded     : {figures['on, no image']:.3f} CPU-s per media s")
    print(f"html_overlay on, one lower third       : {figures['lower third']:.3f} CPU-s per media s")
    print(f"ratio lower third / reference          : {smoke.ratio(figures['lower third'], figures['reference']):.2f}")
    print(
        f"ratio lower third / on without an image: {smoke.ratio(figures['lower third'], figures['on, no image']):.2f}"
    )


if __name__ == "__main__":
    main()
