"""What a restream costs: a worker's CPU with and without one target, per forwarded target.

Three stream workers (`python -m transcode.worker`, passthrough) run side by side in the same
run, fed the same 1080p30 ~6 Mbit/s H.264 + AAC clip (bench/clips.py) in real time, as the
node feeds them (`S` + `D` records every 0.25 s): one plain (the reference), one forwarding
to an RTMP target, one to an SRT target (`StartRestream` first). The targets are ffmpeg
receivers on loopback (`-listen 1`, `mode=listener`), copying to a null output; their CPU is
not the restream's. Each worker's CPU is its rusage at exit (start-up included, the same for
all); the difference per media second is what one target costs, as a share of one core (the
issue's bound: <= 1 %). No process is started per target: the worker's own threads send.

    python -m bench.restream_cost [--seconds 60] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import smoke
from bench.clips import make_clip
from server.media.worker_process import WORKER_ENVIRONMENT
from transcode.contract import InputData, StartInput, StartRestream, WorkerConfig, encode_command, worker_input

TICK = 0.25  # seconds of media fed per write, as the node batches an RTMP publisher's reads


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def receiver(url: str, listen: bool) -> subprocess.Popen:
    command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin"]
    command += [*(["-listen", "1"] if listen else []), "-i", url, "-c", "copy", "-f", "null", "-"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def spawn(config: WorkerConfig, uri: str | None, events: Path) -> subprocess.Popen:
    """A worker whose events go to a file (a pipe nobody reads until the end would fill and
    stall it)."""
    commands = [StartRestream(restream_id=1, session=1, uri=uri)] if uri else []
    with open(events, "wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "transcode.worker", *config.labels()],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.DEVNULL,
            env={**WORKER_ENVIRONMENT, **os.environ},  # as the node starts one
        )
    assert worker.stdin is not None
    worker.stdin.write(worker_input(config, *commands, StartInput("flv")))
    return worker


def cpu_side_by_side(clip: Path, seconds: float, directory: Path, speed: float) -> tuple[list[float], list[bool]]:
    """CPU seconds of each worker (plain, RTMP, SRT), and whether each target went live."""
    rtmp_port, srt_port = free_port(), free_port(socket.SOCK_DGRAM)
    receivers = [
        receiver(f"rtmp://127.0.0.1:{rtmp_port}/live/bench", listen=True),
        receiver(f"srt://127.0.0.1:{srt_port}?mode=listener", listen=False),
    ]
    time.sleep(0.5)  # the receivers listen
    targets = [None, f"rtmp://127.0.0.1:{rtmp_port}/live/bench", f"srt://127.0.0.1:{srt_port}"]
    workers = []
    for number, uri in enumerate(targets, start=1):
        config = WorkerConfig(stream_id=number, out_dir=str(directory / str(number)), screenshot_file=None)
        workers.append(spawn(config, uri, directory / f"{number}.events"))
    data = clip.read_bytes()
    chunk = max(1, int(len(data) * TICK / seconds))
    started = time.monotonic()
    for number, offset in enumerate(range(0, len(data), chunk)):
        record = encode_command(InputData(data[offset : offset + chunk]))
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write(record)
            worker.stdin.flush()
        time.sleep(max(0.0, started + (number + 1) * TICK / speed - time.monotonic()))
    costs, live = [], []
    for number, worker in enumerate(workers, start=1):
        assert worker.stdin is not None
        worker.stdin.close()
        _, status, usage = os.wait4(worker.pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "a worker failed"
        costs.append(usage.ru_utime + usage.ru_stime)
        live.append(b'"restream_live"' in (directory / f"{number}.events").read_bytes())
    for process in receivers:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
    return costs, live


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    smoke.add_flag(parser)
    args = parser.parse_args()
    seconds, size, speed = (smoke.CLIP_SECONDS, smoke.CLIP_SIZE, 4.0) if args.smoke else (args.seconds, None, 1.0)
    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        clip = make_clip(seconds, size=size, directory=directory) if size else make_clip(seconds)
        (plain, rtmp, srt), (_, rtmp_live, srt_live) = cpu_side_by_side(clip, seconds, directory, speed)
        media = seconds / speed if args.smoke else seconds
        megabits = clip.stat().st_size * 8 / seconds / 1e6
        print(f"source: {size[1] if size else 1080}p30 H.264, {megabits:.1f} Mbit/s, {seconds} s, fed at {speed:g}x")
        print(f"worker, no restream (reference): {100 * plain / media:.3f} % of a core")
        print(f"worker, one RTMP target        : {100 * rtmp / media:.3f} % of a core (connected: {rtmp_live})")
        print(f"worker, one SRT target         : {100 * srt / media:.3f} % of a core (connected: {srt_live})")
        print(f"an RTMP target costs           : {100 * (rtmp - plain) / media:.3f} % of a core (bound 1)")
        print(f"an SRT target costs            : {100 * (srt - plain) / media:.3f} % of a core (bound 1)")
        print(f"ratio RTMP / reference         : {smoke.ratio(rtmp, plain):.3f}")


if __name__ == "__main__":
    main()
