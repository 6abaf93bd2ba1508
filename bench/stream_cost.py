"""CPU per passthrough stream, end to end: Headwater vs nginx-rtmp on the same input, one run.

STREAMS copies of a 1080p30 ~6 Mbit/s H.264 + AAC clip are pushed in real time
(`ffmpeg -re -stream_loop -1 -c copy`) first into a Headwater node (RTMP in; CMAF + LL-HLS +
MPEG-TS + DASH out), then into nginx-rtmp (`hls on`, 2 s fragments). Once every stream is
live and after a warm-up, the CPU of each server's whole process tree (Headwater: node + its
stream workers; nginx: master + worker) is read from /proc over two windows of SECONDS:

1. packaging: no viewers, as the reference runs in the issue (RTMP in, outputs written);
   prints % of a core per stream and the ratio (target ≤ 2.0);
2. one viewer per stream: on Headwater an LL-HLS client following the origin playlist with
   blocking reloads and fetching every part; on nginx a legacy HLS client reloading its
   playlist and fetching every segment. Prints both and their ratio.

A part is on time when its bytes arrive no later than one part duration after the schedule
its stream keeps (arrival − media time, against that stream's best): prints the share of
parts on time and the worst lateness.

    python -m bench.stream_cost [--streams 1] [--seconds 30] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from bench import smoke
from bench.clips import make_clip
from bench.hls_client import follow, follow_segments
from bench.nginx_rtmp import NginxRtmp
from bench.proctree import TreeCpu
from tests.support.node import Node

WARM_UP = 8.0


def push(clip: Path, url: str, container: str = "flv") -> subprocess.Popen:
    """ffmpeg publishing `clip` in a loop, as it plays, without encoding: `container="mpegts"`
    for SRT."""
    return subprocess.Popen(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-re",
            "-stream_loop",
            "-1",
            "-i",
            str(clip),
            "-c",
            "copy",
            "-f",
            container,
            url,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(publishers: list[subprocess.Popen]) -> None:
    for publisher in publishers:
        publisher.kill()
    for publisher in publishers:
        publisher.wait()


def measure(tree: TreeCpu, seconds: float) -> float:
    tree.start()
    time.sleep(seconds)
    return tree.stop() / seconds


def punctuality(runs: list[tuple[dict, dict]], part_target: float) -> tuple[int, int, float]:
    """(parts on time, parts, worst lateness s): lateness of a part = (arrival − media end) −
    the smallest such value on its stream."""
    on_time = total = 0
    worst = 0.0
    for arrivals, durations in runs:
        media_end, offsets = 0.0, []
        for uri in sorted(arrivals, key=arrivals.get):
            media_end += durations[uri]
            offsets.append(arrivals[uri] - media_end)
        if len(offsets) < 4:
            continue
        best = min(offsets[2:])
        for offset in offsets[2:]:  # the first parts were listed before the client caught up
            total += 1
            lateness = offset - best
            on_time += lateness <= part_target
            worst = max(worst, lateness)
    return on_time, total, worst


async def follow_all(node: Node, stream_ids: list[int], seconds: float) -> list[tuple[dict, dict]]:
    until = time.monotonic() + seconds
    runs = [({}, {}) for _ in stream_ids]
    await asyncio.gather(
        *(
            follow("127.0.0.1", node.http_port, f"/live/{sid}/origin/index.m3u8", until, arrivals, durations)
            for sid, (arrivals, durations) in zip(stream_ids, runs)
        )
    )
    return runs


def headwater(
    clip: Path, streams: int, seconds: float, work: Path, warm_up: float, env: dict | None = None, alongside=None
) -> tuple[float, float, tuple]:
    """(CPU without viewers, CPU with one LL-HLS viewer per stream, punctuality); `env`: the
    node's settings, `alongside(node)`: a context run while the node is up (bench/metrics_cost.py
    switches metrics off, or scrapes them)."""
    node = Node(work / "node", env=env).start()
    publishers = []
    running = contextlib.ExitStack()
    try:
        if alongside is not None:
            running.enter_context(alongside(node))
        created = [
            httpx.post(f"{node.base_url}/streaming/streams", headers=node.headers, json={"name": f"cost {i}"}).json()
            for i in range(streams)
        ]
        publishers = [push(clip, stream["push_url"]) for stream in created]
        wait_live(node, created)  # 30 workers starting at once take a while on 2 cores
        time.sleep(warm_up)
        tree = TreeCpu([node.process.pid])
        packaging = measure(tree, seconds)
        tree.start()
        runs = asyncio.run(follow_all(node, [s["id"] for s in created], seconds))
        viewed = tree.stop() / seconds
        live = sum(
            httpx.get(f"{node.base_url}/streaming/streams/{s['id']}", headers=node.headers).json()["live"]
            for s in created
        )
        if live != streams:
            raise RuntimeError(f"only {live} of {streams} streams live:\n{node.log()[-3000:]}")
        return packaging, viewed, punctuality(runs, 0.5)
    finally:
        running.close()
        stop(publishers)
        node.stop()


def wait_live(node: Node, created: list[dict], timeout: float = 60.0) -> None:
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        started = time.monotonic()
        live = sum(
            httpx.get(f"{node.base_url}/streaming/streams/{s['id']}", headers=node.headers, timeout=30).json()["live"]
            for s in created
        )
        print(f"  {live}/{len(created)} live ({time.monotonic() - started:.1f} s to ask)", flush=True)
        if live == len(created):
            return
        time.sleep(1.0)
    raise RuntimeError(f"only {live} of {len(created)} streams live after {timeout:.0f} s")


def nginx_rtmp(clip: Path, streams: int, seconds: float, warm_up: float) -> tuple[float, float]:
    """(CPU without viewers, CPU with one legacy HLS viewer per stream)."""
    nginx = NginxRtmp(hls=True).start()
    publishers = []
    try:
        publishers = [push(clip, f"rtmp://127.0.0.1:{nginx.rtmp_port}/in/s{i}") for i in range(streams)]
        time.sleep(warm_up)
        tree = TreeCpu([nginx.process.pid])
        packaging = measure(tree, seconds)
        tree.start()
        asyncio.run(follow_nginx(nginx, streams, seconds))
        return packaging, tree.stop() / seconds
    finally:
        stop(publishers)
        nginx.stop()


async def follow_nginx(nginx: NginxRtmp, streams: int, seconds: float) -> None:
    until = time.monotonic() + seconds
    await asyncio.gather(
        *(follow_segments("127.0.0.1", nginx.http_port, f"/hls/s{i}.m3u8", until) for i in range(streams))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=30)
    smoke.add_flag(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cost-") as work:  # 30 streams' windows: GBs
        if args.smoke:  # one stream of a 2 s 360p clip, 1 s warm-up, 2 s windows
            args.streams, args.seconds = 1, 2.0
            clip = make_clip(smoke.CLIP_SECONDS, size=smoke.CLIP_SIZE, directory=Path(work))
            compare(clip, args.streams, args.seconds, Path(work), 1.0, "360p30")
        else:
            compare(make_clip(60), args.streams, args.seconds, Path(work), WARM_UP, "1080p30")


def compare(clip: Path, streams: int, seconds: float, work: Path, warm_up: float, source: str) -> None:
    ours, ours_viewed, (on_time, parts, worst) = headwater(clip, streams, seconds, work, warm_up)
    shutil.rmtree(work / "node", ignore_errors=True)
    reference, reference_viewed = nginx_rtmp(clip, streams, seconds, warm_up)
    print(
        f"{streams} × {source} ~6 Mbit/s passthrough, two windows of {seconds:.0f} s after "
        f"{warm_up:.0f} s warm-up; % of a core per stream"
    )
    print("  packaging, no viewers:")
    report(
        f"    Headwater (node + workers; CMAF, LL-HLS, TS, DASH) {per_stream(ours, streams)}",
        f"    nginx-rtmp (hls on, 2 s fragments), reference      {per_stream(reference, streams)}",
        smoke.ratio(ours, reference),
        "  (target ≤ 2.0)",
    )
    print("  one viewer per stream:")
    report(
        f"    Headwater, an LL-HLS client (blocking reloads, every part) {per_stream(ours_viewed, streams)}",
        f"    nginx-rtmp, a legacy HLS client (every segment)         {per_stream(reference_viewed, streams)}",
        smoke.ratio(ours_viewed, reference_viewed),
        "",
    )
    print(
        f"  LL-HLS parts on time (≤ one part late): {on_time}/{parts} ({100 * on_time / max(parts, 1):.2f} %), "
        f"worst lateness {worst:.3f} s"
    )


def per_stream(cpu: float, streams: int) -> str:
    return f"{100 * cpu / streams:5.2f} %"


def report(ours: str, reference: str, ratio: float, target: str) -> None:
    print(ours)
    print(reference)
    print(f"    ratio Headwater / nginx-rtmp: {ratio:.2f}{target}")


if __name__ == "__main__":
    main()
