"""VOD delivery: a recorded video's HLS segment and a Range of its MP4 download, served by the
node, next to nginx serving the same bytes as static files (same run, same `wrk` settings).

The recording is made from the benchmarks' 1080p30 6 Mbit/s clip by a real packager run,
laid out as the recorder writes it, in a real node's storage (a `ready` video row). Target
(issue 20): the segment at ≥ 25 % of nginx's requests/s.

    python -m bench.vod_delivery [--seconds 8] [--smoke]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import httpx

from bench import clips, smoke
from bench.delivery import wrk
from bench.nginx_rtmp import NginxRtmp
from tests.support.node import Node
from tests.support.recordings import packager_run, recorded_video

WRK_SECONDS = 8
CLIP_SECONDS = 10
RANGE_BYTES = 1 << 20  # a player's or a download manager's typical request
TARGET = 0.25


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=WRK_SECONDS, help="each wrk run")
    smoke.add_flag(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-vod-") as work:
        if args.smoke:
            clip = clips.make_clip(smoke.CLIP_SECONDS * 2, size=smoke.CLIP_SIZE, directory=Path(work))
            run(Path(work), clip, wrk_seconds=1)
        else:
            run(Path(work), clips.make_clip(CLIP_SECONDS), wrk_seconds=args.seconds)


def run(work: Path, clip: Path, *, wrk_seconds: int) -> None:
    node = Node(work / "node").start()
    nginx = NginxRtmp(hls=False).start()
    try:
        video_id, _ = recorded_video(node, [packager_run(clip, work / "live")], name="bench")
        video = httpx.get(f"{node.base_url}/streaming/videos/{video_id}", headers=node.headers).json()
        base = video["hls_url"].rsplit("/", 1)[0]
        print(f"recording: {video['duration'] / 1000:.1f} s, {video['origin_size']} B; wrk -t2 -c64, same run")
        segment_url = (
            f"{base}/video/1.m4s" if httpx.get(f"{base}/video/1.m4s").status_code == 200 else f"{base}/video/0.m4s"
        )
        segment = httpx.get(segment_url).content
        (nginx.static_dir / "segment.m4s").write_bytes(segment)
        report(
            "segment",
            len(segment),
            wrk(segment_url, wrk_seconds),
            wrk(nginx.url("static/segment.m4s"), wrk_seconds),
        )
        mp4 = httpx.get(video["origin_url"]).content
        (nginx.static_dir / "video.mp4").write_bytes(mp4)
        start = len(mp4) // 3
        wanted = f"Range: bytes={start}-{start + min(RANGE_BYTES, len(mp4) - start) - 1}"
        report(
            "mp4 range",
            min(RANGE_BYTES, len(mp4) - start),
            wrk(video["origin_url"], wrk_seconds, wanted),
            wrk(nginx.url("static/video.mp4"), wrk_seconds, wanted),
        )
    finally:
        nginx.stop()
        node.stop()


def report(name: str, size: int, headwater: float, reference: float) -> None:
    print(
        f"  {name:9} ({size:8d} B): Headwater {headwater:8.0f} req/s, nginx static {reference:8.0f} req/s"
        f" → ratio {smoke.ratio(headwater, reference):.3f} (target ≥ {TARGET:.2f})"
    )


if __name__ == "__main__":
    main()
