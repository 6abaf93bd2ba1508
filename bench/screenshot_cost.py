"""CPU cost of screenshots (transcode/screenshots.py) on a 1080p30 passthrough stream, against
the cheapest thing the worker does with the same packets: demux them.

Run: python -m bench.screenshot_cost [seconds] [--smoke]. Feeds the benchmarks' 1080p30 ~6 Mbit/s clip
(bench/clips.py, a 2 s GOP) to a `ScreenshotJob` at the default 10 s interval and prints its CPU time per media second
as a share of one core at real time (the issue's bound: ≤ 0.5 %), next to the demux's (the
best of three runs each: small figures on a shared machine).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import smoke
from bench.clips import make_clip
from transcode.screenshots import ScreenshotJob

RUNS = 3
INTERVAL = 10.0


def demux(source: Path) -> tuple[av.container.InputContainer, list[av.Packet]]:
    container = av.open(str(source))
    return container, [p for p in container.demux(container.streams.video[0]) if p.size]


def demux_cost(source: Path) -> float:
    started = time.process_time()
    container, _packets = demux(source)
    container.close()
    return time.process_time() - started


def screenshot_cost(source: Path, out: Path, interval: float) -> tuple[float, int]:
    container, packets = demux(source)
    job = ScreenshotJob(container.streams.video[0], out, interval)
    shots, last = 0, None
    started = time.process_time()
    for packet in packets:
        job.on_packet(packet)
        if out.exists() and out.stat().st_mtime_ns != last:
            shots, last = shots + 1, out.stat().st_mtime_ns
    cost = time.process_time() - started
    container.close()
    return cost, shots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seconds", type=int, nargs="?", default=60)
    smoke.add_flag(parser)
    args = parser.parse_args()
    seconds, size = (smoke.CLIP_SECONDS, smoke.CLIP_SIZE) if args.smoke else (args.seconds, (1920, 1080))
    interval = 1.0 if args.smoke else INTERVAL
    with tempfile.TemporaryDirectory() as temp:
        source = make_clip(seconds, size=size, directory=Path(temp)) if args.smoke else make_clip(seconds)
        demuxed = min(demux_cost(source) for _ in range(RUNS))
        runs = [screenshot_cost(source, Path(temp) / "shot.jpg", interval) for _ in range(RUNS)]
    cost, shots = min(runs)
    print(
        f"source: {size[1]}p30 H.264 ~6 Mbit/s, {seconds} s, GOP 2 s; a screenshot every {interval:g} s ({shots} taken)"
    )
    print(f"demux only (reference)   : {100 * demuxed / seconds:.3f} % of a core at real time")
    print(f"screenshots (decode+JPEG): {100 * cost / seconds:.3f} % of a core at real time")
    print(f"ratio screenshots / demux: {smoke.ratio(cost, demuxed):.2f}")


if __name__ == "__main__":
    main()
