"""What signed playback costs on the live fast path: `bench.delivery`'s req/s with
HEADWATER_PLAYBACK_SECRET set and without, same run.

Two nodes side by side, each with its own 720p publisher: one signing (played through the
signed URL its API hands out, so every request's token is checked), one not. `wrk` (as
bench.delivery: -t2 -c64) against each node's media playlist and a recent part (3 s: it
leaves the window soon after), the two nodes in turns for ROUNDS rounds; prints the median
req/s and node CPU per request of each and their ratios (the aim: within noise, ratio ≈ 1).

    python -m bench.signed_delivery [--rounds 3] [--smoke]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench import smoke
from bench.delivery import PART_SECONDS, newest_part, wrk
from bench.hls_client import last_part
from bench.proctree import cpu_seconds
from tests.support.node import Node
from tests.support.publisher import ffmpeg_publish

SIGNED = {"HEADWATER_PLAYBACK_SECRET": "bench-playback-secret-0123456789abcdef"}


def delivery(work: Path, rounds: int, wrk_seconds: int, size: str) -> None:
    nodes = {"signed": Node(work / "signed", env=SIGNED).start(), "unsigned": Node(work / "unsigned").start()}
    publishers = []
    try:
        bases = {}
        for name, node in nodes.items():
            stream = httpx.post(f"{node.base_url}/streaming/streams", headers=node.headers, json={"name": name}).json()
            publishers.append(
                ffmpeg_publish(
                    stream["push_url"],
                    seconds=rounds * 4 * (wrk_seconds + 1) + 60,
                    size=size,
                    rate=30,
                    gop=60,
                    extra=["-b:v", "2M", "-maxrate", "2M", "-bufsize", "2M"],
                )
            )
            bases[name] = stream["hls_cmaf_url"].removesuffix("/master.m3u8") + "/origin"
        assert "/t/" in bases["signed"] and "/t/" not in bases["unsigned"], bases
        for base in bases.values():
            while (
                httpx.get(f"{base}/index.m3u8").status_code != 200
                or len(last_part(httpx.get(f"{base}/index.m3u8").text)[2]) < 4
            ):
                time.sleep(0.2)
        rates: dict[tuple[str, str], list[float]] = {}
        costs: dict[tuple[str, str], list[float]] = {}  # node CPU µs per request
        for index in range(rounds):
            order = ("signed", "unsigned") if index % 2 == 0 else ("unsigned", "signed")
            for name, kind in ((name, kind) for name in order for kind in ("playlist", "part")):
                base, pid = bases[name], nodes[name].process.pid
                url = f"{base}/index.m3u8" if kind == "playlist" else f"{base}/{newest_part(base)[0]}"
                cpu, started = cpu_seconds([pid]), time.monotonic()
                rate = wrk(url, wrk_seconds if kind == "playlist" else min(wrk_seconds, PART_SECONDS))
                requests = rate * (time.monotonic() - started)
                rates.setdefault((name, kind), []).append(rate)
                costs.setdefault((name, kind), []).append(1e6 * (cpu_seconds([pid]) - cpu) / requests)
        print(f"delivery: wrk -t2 -c64, {rounds} rounds of {wrk_seconds} s per node in turns, signed and unsigned")
        for kind in ("playlist", "part"):
            on, off = statistics.median(rates["signed", kind]), statistics.median(rates["unsigned", kind])
            on_cost, off_cost = statistics.median(costs["signed", kind]), statistics.median(costs["unsigned", kind])
            print(
                f"  {kind:8}: signed {on:8.0f} req/s, unsigned {off:8.0f} req/s → ratio signed / unsigned "
                f"{smoke.ratio(on, off):.3f}; node CPU per request signed {on_cost:.1f} µs, "
                f"unsigned {off_cost:.1f} µs → ratio {smoke.ratio(on_cost, off_cost):.3f}"
            )
    finally:
        for publisher in publishers:
            publisher.kill()
        for node in nodes.values():
            node.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    smoke.add_flag(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-signed-") as work:
        if args.smoke:
            delivery(Path(work), 1, 1, "640x360")
        else:
            delivery(Path(work), args.rounds, 8, "1280x720")


if __name__ == "__main__":
    main()
