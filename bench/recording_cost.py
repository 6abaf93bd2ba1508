"""What recording costs: a worker's CPU with and without recording `origin`, and the time to
finalize a long recording.

1. CPU: two stream workers (`python -m transcode.worker`, passthrough) run side by side in the
   same run, fed the same 1080p30 ~6 Mbit/s H.264 + AAC clip (bench/clips.py) in real time,
   as the node feeds them (`S` + `D` records every 0.25 s); one gets `StartRecording` first.
   Each worker's CPU is its rusage at exit (start-up included, the same for both); the
   difference per media second is what recording costs, as a share of one core (the issue's
   bound: <= 0.5 %).
2. Finalize: a real recording (the recorder fed a packaged clip's events) lengthened to 1 hour
   and to 4 hours by repeating its segments (hard links; index lines as the recorder writes
   them, the last segment left opened as after a crash: the recovery's worst case), then
   summarized as the node's finalize does (`packager/recording_summary.summarize`, the
   screenshot copy aside): its wall time (bound: <= 5 s for 1 hour) and the peak of Python
   memory it allocates against the media's size (a 4-hour recording is not held in memory).

    python -m bench.recording_cost [--seconds 60] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import smoke
from bench.clips import make_clip
from packager.recorder import Recorder
from packager.recording_layout import IndexWriter, RecordedSegment, read_recording
from packager.recording_summary import summarize
from server.media.worker_process import WORKER_ENVIRONMENT
from tests.packager.packager_testkit import package
from transcode.contract import InputData, StartInput, StartRecording, WorkerConfig, encode_command, worker_input

TICK = 0.25  # seconds of media fed per write, as the node batches an RTMP publisher's reads
HOUR = 3600.0


def spawn(config: WorkerConfig, recording: Path | None) -> subprocess.Popen:
    commands = [StartRecording(key="bench", directory=str(recording))] if recording else []
    worker = subprocess.Popen(
        [sys.executable, "-m", "transcode.worker", *config.labels()],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env={**WORKER_ENVIRONMENT, **os.environ},  # as the node starts one
    )
    assert worker.stdin is not None
    worker.stdin.write(worker_input(config, *commands, StartInput("flv")))
    return worker


def cpu_side_by_side(clip: Path, seconds: float, directory: Path, speed: float) -> tuple[float, float]:
    """CPU seconds of the worker not recording and of the one recording, fed together."""
    data = clip.read_bytes()
    workers = []
    for name, recording in (("plain", None), ("recording", directory / "recordings" / "bench")):
        config = WorkerConfig(stream_id=len(workers) + 1, out_dir=str(directory / name), screenshot_file=None)
        workers.append(spawn(config, recording))
    chunk = max(1, int(len(data) * TICK / seconds))
    started = time.monotonic()
    for number, offset in enumerate(range(0, len(data), chunk)):
        record = encode_command(InputData(data[offset : offset + chunk]))
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write(record)
            worker.stdin.flush()
        time.sleep(max(0.0, started + (number + 1) * TICK / speed - time.monotonic()))
    costs = []
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.close()
        _, status, usage = os.wait4(worker.pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "a worker failed"
        costs.append(usage.ru_utime + usage.ru_stime)
    return costs[0], costs[1]


def recorded_clip(clip: Path, directory: Path) -> Path:
    """A recording made by the recorder from a packaged clip's events."""
    run = package(clip, directory / "live", window_segments=10_000)
    recording = directory / "recording"
    recorder = Recorder(run.out_dir, run=lambda job: job(), emit=lambda event: None)
    recorder.start("clip", recording)
    for event in run.events:
        recorder.observe(event)
    return recording


def lengthened(source: Path, target: Path, seconds: float) -> Path:
    """`source` repeated up to `seconds`, its last segment only opened (as after a crash)."""
    base = read_recording(source)
    for track in base.tracks:
        (target / track).mkdir(parents=True)
        for init in {s.init for s in base.tracks[track]}:
            shutil.copy(source / init, target / init)
    index = IndexWriter(target)
    loop_seconds = base.duration
    rounds = max(1, round(seconds / loop_seconds))
    numbers = dict.fromkeys(base.tracks, 0)
    for round_number in range(rounds):
        last_round = round_number == rounds - 1
        for track, segments in base.tracks.items():
            for position, segment in enumerate(segments):
                name = f"{track}/{numbers[track]}.m4s"
                numbers[track] += 1
                os.link(source / segment.file, target / name)
                opened = RecordedSegment(track, name, segment.init, wall_clock=segment.wall_clock)
                index.append(opened)
                if not (last_round and position == len(segments) - 1):
                    index.append(
                        RecordedSegment(
                            track,
                            name,
                            segment.init,
                            segment.start + round(round_number * loop_seconds * segment.timescale),
                            segment.ticks,
                            segment.timescale,
                            segment.size,
                            segment.wall_clock,
                            complete=True,
                        )
                    )
    index.close()
    return target


def finalize_cost(recording: Path) -> tuple[float, float, int, int]:
    """(wall seconds, media seconds, peak bytes allocated, media bytes) of summarizing it."""
    tracemalloc.start()
    started = time.perf_counter()
    summary = summarize(recording)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, summary.duration, peak, summary.size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    smoke.add_flag(parser)
    args = parser.parse_args()
    seconds, size, speed = (smoke.CLIP_SECONDS, smoke.CLIP_SIZE, 4.0) if args.smoke else (args.seconds, None, 1.0)
    lengths = (60.0, 240.0) if args.smoke else (HOUR, 4 * HOUR)
    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        clip = make_clip(seconds, size=size, directory=directory) if size else make_clip(seconds)
        plain, recording = cpu_side_by_side(clip, seconds, directory / "cpu", speed)
        media = seconds / speed if args.smoke else seconds
        print(f"source: {size[1] if size else 1080}p30 H.264 ~6 Mbit/s, {seconds} s, fed at {speed:g}x real time")
        print(f"worker not recording : {100 * plain / media:.3f} % of a core")
        print(f"worker recording     : {100 * recording / media:.3f} % of a core")
        print(f"recording costs      : {100 * (recording - plain) / media:.3f} % of a core (bound 0.5)")
        recorded = read_recording(directory / "cpu" / "recordings" / "bench").duration
        print(f"recorded             : {recorded:.1f} s of {seconds} s")
        source = recorded_clip(clip, directory / "clip")
        for length in lengths:
            long = lengthened(source, directory / f"long_{length:g}", length)
            elapsed, duration, peak, media_bytes = finalize_cost(long)
            print(
                f"finalize {duration / 60:.0f} min: {elapsed:.2f} s, peak Python memory {peak / 2**20:.1f} MiB"
                f" for {media_bytes / 2**20:.0f} MiB of media"
            )
            shutil.rmtree(long)


if __name__ == "__main__":
    main()
