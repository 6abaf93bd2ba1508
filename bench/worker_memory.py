"""A transcoding worker's memory over media time: glibc's default malloc arenas against the two
the node gives its workers (`MALLOC_ARENA_MAX=2`, server/media/worker_process.py).

The 2-hour soak found a ladder worker fed over RTMP growing ~2.7 MB a minute for its first 20
minutes (+42 %, then level), with no allocation of its own growing (memray saw none): its
threads' arenas fragmented.
Here one worker at a time takes an FLV clip (as the node relays an RTMP publisher) at SPEED×
real time and transcodes it to one rendition; its RSS is sampled as the clip goes. Printed per
run: RSS after the first quarter of the clip and at its end, the growth per media minute, and
the worker's CPU; then the CPU ratio of the node's setting against glibc's default.

    python -m bench.worker_memory [--seconds 240] [--speed 4]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import smoke
from bench.clips import make_clip
from server.media.worker_process import WORKER_ENVIRONMENT
from transcode.contract import InputData, Rendition, StartInput, WorkerConfig, encode_command, worker_input

CLIP_SIZE = (320, 240)
RENDITION = Rendition(name="q120", width=160, height=120, video_bitrate=100_000)
CHUNK = 64 * 1024


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(clip: Path, seconds: float, speed: float, environment: dict[str, str]) -> tuple[float, float, float]:
    """(RSS after a quarter of the clip, RSS at its end, CPU seconds) of one worker."""
    data = clip.read_bytes()
    rate = len(data) / seconds * speed  # bytes a second
    with tempfile.TemporaryDirectory(prefix="bench-worker-memory-") as out:
        config = WorkerConfig(stream_id=0, out_dir=out, degrade_after=1e9, renditions=[RENDITION])
        cpu = children_cpu()
        worker = subprocess.Popen(
            [sys.executable, "-m", "transcode.worker", *config.labels()],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=environment,
        )
        assert worker.stdin is not None
        worker.stdin.write(worker_input(config, StartInput("flv")))
        started, quarter = time.monotonic(), None
        for sent in range(0, len(data), CHUNK):
            worker.stdin.write(encode_command(InputData(data[sent : sent + CHUNK])))
            ahead = (sent + CHUNK) / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
            if quarter is None and sent >= len(data) / 4:
                quarter = rss_mb(worker.pid)
        end = rss_mb(worker.pid)
        worker.stdin.close()
        worker.wait()
        return quarter or end, end, children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=240, help="media seconds of the clip")
    parser.add_argument("--speed", type=float, default=4.0, help="times real time the clip is fed")
    smoke.add_flag(parser)
    args = parser.parse_args()
    seconds, speed = (smoke.CLIP_SECONDS, 20.0) if args.smoke else (args.seconds, args.speed)
    with tempfile.TemporaryDirectory(prefix="bench-worker-memory-") as work:
        clip = make_clip(seconds, size=CLIP_SIZE, **({"directory": Path(work)} if args.smoke else {}))
        print(f"clip: {CLIP_SIZE[0]}x{CLIP_SIZE[1]}, {seconds} s of FLV at {speed:g}× real time into a worker")
        default = {key: value for key, value in os.environ.items() if key != "MALLOC_ARENA_MAX"}
        cpu = []
        for label, environment in (
            ("glibc default arenas", {**default, "OPENBLAS_NUM_THREADS": "1"}),
            ("MALLOC_ARENA_MAX=2  ", {**WORKER_ENVIRONMENT, **default}),
        ):
            quarter, end, used = run(clip, seconds, speed, environment)
            cpu.append(used)
            per_minute = (end - quarter) / (seconds * 0.75 / 60)
            print(f"{label}: RSS {quarter:.1f} → {end:.1f} MB ({per_minute:.2f} MB per media minute), CPU {used:.2f} s")
        print(f"ratio CPU two arenas / default: {smoke.ratio(cpu[1], cpu[0]):.3f}")


if __name__ == "__main__":
    main()
