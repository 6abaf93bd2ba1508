"""Does the default ladder keep real time here? A real node, a real-time 1080p30 RTMP publish.

Starts a node (its own data dir under bench/out/), makes `abr_1080p` (1080p/720p/480p/360p) the
account default, publishes the 1080p30 bench clip (`bench/transcode_cost.py` makes it) looped
in real time with ffmpeg `-re -c copy`, and samples the stream's `transcoding_speed` and
`transcoded_qualities` from the API every second, and how far the top rendition's newest media
trails the wall clock (its playlist's PROGRAM-DATE-TIME + durations): a lag that stays flat
over the run means real time was held, a growing one that the transcoder fell behind. Prints
the samples' min/median, the lag at the start and end of the run, and whether a rendition was
shed.

Run: PYTHONPATH=. python bench/transcode_realtime.py [--seconds 60] [--preset superfast] [--smoke]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import smoke
from bench.clips import OUT, make_clip
from tests.support.node import Node

WARMUP = 5  # seconds before sampling: the worker starts, the encoders fill their pipelines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--preset", default="superfast")
    parser.add_argument("--quality-set", default="abr_1080p")
    smoke.add_flag(parser)
    args = parser.parse_args()
    if args.smoke:  # 8 s of a 360p clip on abr_480p, sampled after 2 s, in a temp directory
        args.seconds, args.quality_set = 8, "abr_480p"
        with tempfile.TemporaryDirectory(prefix="bench-realtime-") as work:
            clip = make_clip(smoke.CLIP_SECONDS, size=smoke.CLIP_SIZE, directory=Path(work))
            measure(clip, Path(work) / "node", args, warmup=2, source="360p30")
        return
    data = OUT / "realtime_node"
    shutil.rmtree(data, ignore_errors=True)
    measure(make_clip(24), data, args, warmup=WARMUP, source="1080p30")


def measure(clip: Path, data: Path, args: argparse.Namespace, warmup: float, source: str) -> None:
    node = Node(data, env={"HEADWATER_X264_PRESET": args.preset}).start()
    try:
        with httpx.Client(base_url=node.base_url, headers=node.headers, timeout=10) as http:
            sets = http.get("/streaming/quality_sets").json()["live"]
            chosen = next(s["id"] for s in sets if s["name"] == args.quality_set)
            http.put("/streaming/quality_sets/default", json={"live": {"id": chosen}}).raise_for_status()
            stream = http.post("/streaming/streams", json={"name": "realtime"}).json()
            publisher = subprocess.Popen(
                [
                    "ffmpeg",
                    "-v",
                    "error",
                    "-re",
                    "-stream_loop",
                    "-1",
                    "-i",
                    str(clip),
                    "-t",
                    str(args.seconds),
                    "-c",
                    "copy",
                    "-f",
                    "flv",
                    stream["push_url"],
                ],
                stdin=subprocess.DEVNULL,
            )
            samples, qualities, lags = sample(http, stream["id"], args.seconds, warmup)
            publisher.wait(timeout=30)
    finally:
        node.stop()
    shed = [line for line in node.log().splitlines() if "dropped rendition" in line]
    print(f"{args.quality_set}, x264 {args.preset}, {args.seconds} s real-time {source} publish")
    if samples:
        print(
            f"transcoding_speed: min {min(samples):.3f}, median {statistics.median(samples):.3f}, "
            f"{sum(s < 1.0 for s in samples)} of {len(samples)} samples below 1.0"
        )
    if len(lags) > 20:
        start, end = statistics.median(lags[:10]), statistics.median(lags[-10:])
        print(
            f"top rendition behind the wall clock: {start:.2f} s at the start, {end:.2f} s at the end "
            f"(max {max(lags):.2f} s): fell behind by {end - start:.2f} s over {args.seconds} s"
        )
    print(f"transcoded_qualities: {qualities}")
    print("shed: " + ("; ".join(shed) if shed else "nothing"))


def sample(
    http: httpx.Client, stream_id: int, seconds: int, warmup: float
) -> tuple[list[float], set[tuple], list[float]]:
    samples, qualities, lags = [], set(), []
    start = time.monotonic()
    while time.monotonic() - start < seconds - 1:
        time.sleep(1)
        status = http.get(f"/streaming/streams/{stream_id}").json()
        if status.get("live"):
            qualities.add(tuple(status["transcoded_qualities"]))
            if time.monotonic() - start > warmup and status.get("transcoding_speed") is not None:
                samples.append(status["transcoding_speed"])
            renditions = status["transcoded_qualities"]
            lag = media_lag(http, stream_id, renditions[1]) if len(renditions) > 1 else None
            if lag is not None and time.monotonic() - start > warmup:
                lags.append(lag)
    return samples, qualities, lags


def media_lag(http: httpx.Client, stream_id: int, rendition: str) -> float | None:
    """Seconds between now and the end of the newest media listed in `rendition`'s playlist."""
    response = http.get(f"/live/{stream_id}/{rendition}/index.m3u8")
    if response.status_code != 200:
        return None
    anchor, media = None, 0.0  # each segment opens with its PDT; its parts follow
    for line in response.text.splitlines():
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            anchor = datetime.fromisoformat(line.split(":", 1)[1].replace("Z", "+00:00")).timestamp()
            media = 0.0
        elif line.startswith("#EXT-X-PART:"):
            media += float(line.split("DURATION=", 1)[1].split(",", 1)[0])
    return None if anchor is None else time.time() - (anchor + media)


if __name__ == "__main__":
    main()
