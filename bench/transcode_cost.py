"""What Headwater's transcoder costs, next to the ffmpeg CLI doing the same work, in one run.

A 1080p30 H.264 + AAC clip (FLV, as the RTMP ingest delivers it; made once under bench/out/)
goes to a 720p/480p/360p ladder (3000k/1500k/800k, 2 s GOP, no scene cuts, IDR frames on the
source's segment-start keyframes):

- Headwater: `python -m transcode.worker` with that ladder, the clip on stdin as fast as it
  reads; it also packages the origin and every rendition to CMAF/LL-HLS/DASH and MPEG-TS.
- ffmpeg: the same filter graph (split + scale, FFmpeg's default bicubic scaler — the worker's
  `VideoEncoder` uses bicubic too) and the same x264 settings (preset, bitrate, maxrate = bufsize,
  -g, sc_threshold 0, keyframes forced on the source's), audio copied (the worker passes the
  source AAC through too), and the same outputs: the origin copied and every rendition written
  through `tee` to HLS fMP4 and HLS MPEG-TS (2 s segments, 8-segment window).

Both are child processes; CPU = getrusage(RUSAGE_CHILDREN) user + system across each run.
Prints CPU-seconds per media second, wall-clock speed, and the ratio Headwater ÷ ffmpeg.
The machine may be shared: absolute figures are noisy, the ratio less so (runs alternate).

Run: PYTHONPATH=. python bench/transcode_cost.py [--seconds 24] [--preset superfast] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.clips import GOP, OUT, make_clip  # noqa: E402

LADDER = [("720p", 1280, 720, 3000), ("480p", 854, 480, 1500), ("360p", 640, 360, 800)]


def cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(command: list[str], stdin_path: Path | None = None) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one child process run to completion."""
    start_cpu, start_wall = cpu_children(), time.perf_counter()
    with open(stdin_path, "rb") if stdin_path else open("/dev/null", "rb") as stdin:
        subprocess.run(command, stdin=stdin, stdout=subprocess.DEVNULL, check=True, cwd=ROOT)
    return cpu_children() - start_cpu, time.perf_counter() - start_wall


def headwater_command(out_dir: Path, preset: str) -> list[str]:
    config = {
        "stream_id": 0, "out_dir": str(out_dir), "x264_preset": preset, "hardware_encoder": False,
        "degrade_after": 1e9,  # measure the whole ladder, never shed
        "renditions": [{"name": n, "width": w, "height": h, "video_bitrate": b} for n, w, h, b in LADDER],
    }
    return [sys.executable, "-m", "transcode.worker", json.dumps(config)]


def ffmpeg_command(clip: Path, out_dir: Path, preset: str) -> list[str]:
    """The same job for the CLI: origin copied + the ladder, each variant to HLS fMP4 and HLS TS."""
    labels = "".join(f"[s{i}]" for i in range(len(LADDER)))
    scales = ";".join(f"[s{i}]scale={w}:{h}[v{i}]" for i, (_, w, h, _) in enumerate(LADDER))
    command = ["ffmpeg", "-v", "error", "-y", "-i", str(clip),
               "-filter_complex", f"[0:v]split={len(LADDER)}{labels};{scales}",
               "-map", "0:v", "-map", "0:a", "-c", "copy", "-f", "tee", packaged(out_dir / "origin")]
    for i, (name, _, _, kbit) in enumerate(LADDER):
        command += [
            "-map", f"[v{i}]", "-map", "0:a", "-c:v", "libx264", "-preset", preset,
            "-b:v", f"{kbit}k", "-maxrate", f"{kbit}k", "-bufsize", f"{kbit}k",
            "-g", str(GOP), "-sc_threshold", "0", "-forced-idr", "1", "-force_key_frames", "source",
            "-pix_fmt", "yuv420p", "-c:a", "copy", "-f", "tee", packaged(out_dir / name),
        ]
    return command


def packaged(directory: Path) -> str:
    """A tee target writing one variant as Headwater does: CMAF HLS and MPEG-TS HLS, 2 s
    segments, an 8-segment window."""
    directory.mkdir(parents=True, exist_ok=True)
    hls = "f=hls:hls_time=2:hls_list_size=8:hls_flags=delete_segments"
    return (f"[{hls}:hls_segment_type=fmp4:hls_segment_filename={directory}/seg_%d.m4s]{directory}/index.m3u8|"
            f"[{hls}:hls_segment_filename={directory}/ts_%d.ts]{directory}/mpegts.m3u8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=24)
    parser.add_argument("--preset", default="superfast")
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs of each; sums are compared")
    args = parser.parse_args()
    clip = make_clip(args.seconds)
    media = float(args.seconds)
    work = OUT / "transcode_run"
    totals = {"headwater": [0.0, 0.0], "ffmpeg": [0.0, 0.0]}
    for _ in range(args.rounds):
        shutil.rmtree(work, ignore_errors=True)
        for name, run in (
            ("headwater", lambda: measure(headwater_command(work / "headwater", args.preset), clip)),
            ("ffmpeg", lambda: measure(ffmpeg_command(clip, work / "ffmpeg", args.preset))),
        ):
            cpu, wall = run()
            totals[name][0] += cpu
            totals[name][1] += wall
            print(f"  {name:9s}: {cpu / media:.3f} CPU-s per media s, speed {media / wall:.2f}x", flush=True)
    media_total = media * args.rounds
    print(f"clip: {args.seconds} s 1080p30 H.264 + AAC → 720p/480p/360p (3000k/1500k/800k), "
          f"x264 {args.preset}, {args.rounds} round(s)")
    for name, (cpu, wall) in totals.items():
        print(f"{name:9s}: {cpu / media_total:.3f} CPU-s per media s, speed {media_total / wall:.2f}x")
    ratio = totals["headwater"][0] / totals["ffmpeg"][0]
    print(f"ratio headwater / ffmpeg: {ratio:.3f} (target <= 1.10)")


if __name__ == "__main__":
    main()
