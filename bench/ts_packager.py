"""CPU cost of the MPEG-TS packager against a plain `-c copy`-style PyAV remux of the same packets.

Run: PYTHONPATH=. python bench/ts_packager.py [seconds] [--smoke]. Prints CPU-seconds per media second
(the best of three runs each, since the figures are small and the machine is shared) and the
packager's cost as a multiple of the plain remux.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import smoke
from packager.ts_output import TsRendition

RUNS = 3


def make_source(directory: Path, seconds: int) -> Path:
    path = directory / "source.flv"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=sample_rate=48000",
            "-t",
            str(seconds),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            "6M",
            "-g",
            "60",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            str(path),
        ],
        check=True,
    )
    return path


def run_packager(source: Path, out_dir: Path) -> float:
    container = av.open(str(source))
    rendition = TsRendition(out_dir, "origin", lambda event: None)
    indexes = {s.index: rendition.add_stream(s) for s in container.streams}
    demuxed = [p for p in container.demux() if p.dts is not None]
    last_start = None
    started = time.process_time()
    for packet in demuxed:
        start = False
        if packet.stream.type == "video" and packet.is_keyframe:
            t = float(packet.pts * packet.time_base)
            if last_start is None or t - last_start >= 2:
                start, last_start = True, t
        rendition.mux(indexes[packet.stream_index], packet, segment_start=start)
    rendition.close(endlist=True)
    return time.process_time() - started


def run_plain_remux(source: Path, out_path: Path) -> float:
    container = av.open(str(source))
    output = av.open(str(out_path), "w", format="mpegts")
    streams = {s.index: output.add_stream_from_template(s) for s in container.streams}
    demuxed = [p for p in container.demux() if p.dts is not None]
    started = time.process_time()
    for packet in demuxed:
        packet.stream = streams[packet.stream_index]
        output.mux(packet)
    output.close()
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seconds", type=int, nargs="?", default=10)
    smoke.add_flag(parser)
    args = parser.parse_args()
    seconds, runs = (2, 1) if args.smoke else (args.seconds, RUNS)
    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        source = make_source(directory, seconds)
        megabits = source.stat().st_size * 8 / seconds / 1e6
        remux = min(run_plain_remux(source, directory / f"plain{n}.ts") for n in range(runs))
        packaged = min(run_packager(source, directory / f"out{n}") for n in range(runs))
        print(f"source: 720p30, {megabits:.1f} Mbit/s, {seconds} s")
        print(f"plain PyAV remux to one .ts : {remux / seconds:.4f} CPU-s per media second")
        print(f"TsRendition (cut + playlist): {packaged / seconds:.4f} CPU-s per media second")
        print(f"ratio TsRendition / plain remux: {packaged / remux:.2f}")


if __name__ == "__main__":
    main()
