"""What Headwater's transcoder costs, next to the ffmpeg CLI doing the same work, in one run.

A 1080p30 H.264 + AAC clip (FLV, as the RTMP ingest delivers it; made once under bench/out/)
goes to a 720p/480p/360p ladder (3000k/1500k/800k, 2 s GOP, no scene cuts, IDR frames on the
source's segment-start keyframes):

- Headwater: `python -m transcode.worker` with that ladder, the clip on stdin as fast as it
  reads, framed as the node frames it (`transcode/contract.py`: the config record, a
  `StartInput` of an FLV input, then `InputData` records of READ_SIZE bytes); it also packages
  the origin and every rendition to CMAF/LL-HLS/DASH and MPEG-TS.
- ffmpeg: the same filter graph (split + scale, FFmpeg's default bicubic scaler — the worker's
  `VideoEncoder` uses bicubic too) and the same x264 settings (preset, bitrate, maxrate = bufsize,
  -g, sc_threshold 0, keyframes forced on the source's), audio copied (the worker passes the
  source AAC through too), and the same outputs: the origin copied and every rendition written
  through `tee` to HLS fMP4 and HLS MPEG-TS (2 s segments, 8-segment window).

Both are child processes; CPU = getrusage(RUSAGE_CHILDREN) user + system across each run.
Prints CPU-seconds per media second, wall-clock speed, and the ratio Headwater ÷ ffmpeg.
The machine may be shared: absolute figures are noisy, the ratio less so (runs alternate).

Run: PYTHONPATH=. python bench/transcode_cost.py [--seconds 24] [--preset superfast] [--rounds 2] [--smoke]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import smoke  # noqa: E402
from bench.clips import GOP, OUT, make_clip  # noqa: E402
from transcode.contract import InputData, StartInput, WorkerConfig, encode_command, worker_input  # noqa: E402
from transcode.ladder import Rendition  # noqa: E402
from transcode.pipe_input import READ_SIZE  # noqa: E402

LADDER = [("720p", 1280, 720, 3000), ("480p", 854, 480, 1500), ("360p", 640, 360, 800)]


def cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(command: list[str], stdin: Iterable[bytes] = ()) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one child process run to completion, fed `stdin`."""
    start_cpu, start_wall = cpu_children(), time.perf_counter()
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, cwd=ROOT)
    try:
        for chunk in stdin:
            process.stdin.write(chunk)
        process.stdin.close()
    except BrokenPipeError:
        pass  # the worker died: its exit status says so below
    if process.wait():
        raise subprocess.CalledProcessError(process.returncode, command)
    return cpu_children() - start_cpu, time.perf_counter() - start_wall


def worker_config(out_dir: Path, preset: str) -> WorkerConfig:
    return WorkerConfig(
        stream_id=0,
        out_dir=str(out_dir),
        x264_preset=preset,
        hardware_encoder=False,
        degrade_after=1e9,  # measure the whole ladder, never shed
        renditions=[Rendition(name=n, width=w, height=h, video_bitrate=b) for n, w, h, b in LADDER],
    )


def headwater_input(config: WorkerConfig, clip: Path) -> Iterator[bytes]:
    """The clip as the node feeds a worker: its config and an FLV input's start, then the
    clip's bytes in data records of the size the worker reads at once."""
    yield worker_input(config, StartInput("flv"))
    with open(clip, "rb") as source:
        while chunk := source.read(READ_SIZE):
            yield encode_command(InputData(chunk))


def headwater(clip: Path, config: WorkerConfig) -> tuple[float, float]:
    return measure([sys.executable, "-m", "transcode.worker", *config.labels()], headwater_input(config, clip))


def ffmpeg_command(clip: Path, out_dir: Path, preset: str) -> list[str]:
    """The same job for the CLI: origin copied + the ladder, each variant to HLS fMP4 and HLS TS."""
    labels = "".join(f"[s{i}]" for i in range(len(LADDER)))
    scales = ";".join(f"[s{i}]scale={w}:{h}[v{i}]" for i, (_, w, h, _) in enumerate(LADDER))
    command = [
        "ffmpeg",
        "-v",
        "error",
        "-y",
        "-i",
        str(clip),
        "-filter_complex",
        f"[0:v]split={len(LADDER)}{labels};{scales}",
        "-map",
        "0:v",
        "-map",
        "0:a",
        "-c",
        "copy",
        "-f",
        "tee",
        packaged(out_dir / "origin"),
    ]
    for i, (name, _, _, kbit) in enumerate(LADDER):
        command += [
            "-map",
            f"[v{i}]",
            "-map",
            "0:a",
            "-c:v",
            "libx264",
            "-preset",
            preset,
            "-b:v",
            f"{kbit}k",
            "-maxrate",
            f"{kbit}k",
            "-bufsize",
            f"{kbit}k",
            "-g",
            str(GOP),
            "-sc_threshold",
            "0",
            "-forced-idr",
            "1",
            "-force_key_frames",
            "source",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "copy",
            "-f",
            "tee",
            packaged(out_dir / name),
        ]
    return command


def packaged(directory: Path) -> str:
    """A tee target writing one variant as Headwater does: CMAF HLS and MPEG-TS HLS, 2 s
    segments, an 8-segment window."""
    directory.mkdir(parents=True, exist_ok=True)
    hls = "f=hls:hls_time=2:hls_list_size=8:hls_flags=delete_segments"
    return (
        f"[{hls}:hls_segment_type=fmp4:hls_segment_filename={directory}/seg_%d.m4s]{directory}/index.m3u8|"
        f"[{hls}:hls_segment_filename={directory}/ts_%d.ts]{directory}/mpegts.m3u8"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=24)
    parser.add_argument("--preset", default="superfast")
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs of each; sums are compared")
    smoke.add_flag(parser)
    args = parser.parse_args()
    if args.smoke:  # a 2 s 360p clip, one round, in a temp directory
        args.seconds, args.rounds = smoke.CLIP_SECONDS, 1
        with tempfile.TemporaryDirectory(prefix="bench-transcode-") as work:
            clip = make_clip(args.seconds, size=smoke.CLIP_SIZE, directory=Path(work))
            compare(clip, Path(work) / "run", args, "360p30")
        return
    compare(make_clip(args.seconds), OUT / "transcode_run", args, "1080p30")


def compare(clip: Path, work: Path, args: argparse.Namespace, source: str) -> None:
    media = float(args.seconds)
    totals = {"headwater": [0.0, 0.0], "ffmpeg": [0.0, 0.0]}
    for _ in range(args.rounds):
        shutil.rmtree(work, ignore_errors=True)
        for name, run in (
            ("headwater", lambda: headwater(clip, worker_config(work / "headwater", args.preset))),
            ("ffmpeg", lambda: measure(ffmpeg_command(clip, work / "ffmpeg", args.preset))),
        ):
            cpu, wall = run()
            totals[name][0] += cpu
            totals[name][1] += wall
            print(f"  {name:9s}: {cpu / media:.3f} CPU-s per media s, speed {media / wall:.2f}x", flush=True)
    media_total = media * args.rounds
    print(
        f"clip: {args.seconds} s {source} H.264 + AAC → 720p/480p/360p (3000k/1500k/800k), "
        f"x264 {args.preset}, {args.rounds} round(s)"
    )
    for name, (cpu, wall) in totals.items():
        print(f"{name:9s}: {cpu / media_total:.3f} CPU-s per media s, speed {media_total / wall:.2f}x")
    ratio = totals["headwater"][0] / totals["ffmpeg"][0]
    print(f"ratio headwater / ffmpeg: {ratio:.3f} (target <= 1.10)")


if __name__ == "__main__":
    main()
