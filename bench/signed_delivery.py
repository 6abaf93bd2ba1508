"""What signed playback costs on the live fast path: `bench.delivery`'s req/s with
HEADWATER_PLAYBACK_SECRET set and without, same run.

Two nodes side by side, each with its own 720p publisher: one signing (played through the
signed URL its API hands out, so every request's token is checked), one not. `wrk` (as
bench.delivery: -t2 -c64) against each node's media playlist and a recent part (3 s: it
leaves the window soon after), the two nodes in turns for ROUNDS rounds; prints the median
req/s and node CPU per request of each and their ratios (the aim: within noise, ratio ≈ 1).

Node CPU per request there also carries the node's own work (ingest, packaging events)
divided by the requests served, so it moves with the req/s a loaded machine lets wrk reach.
A second figure isolates the check: the live fast path alone (uvicorn with the node's
protocol in this process, one stream's 1 KB master playlist from memory, nothing else
running in it), signed and unsigned in turns, this process's CPU per request.

    python -m bench.signed_delivery [--rounds 3] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from pathlib import Path

from bench import smoke
from bench.delivery import PART_SECONDS
from bench.metrics_cost import in_turns, publish_to_each
from server.delivery.live_http import LiveFirst, LiveHttp
from server.delivery.live_state import LiveStream
from server.delivery.playback_tokens import PlaybackTokens
from server.delivery.signed_http import SignedPlayback
from tests.support.live_server import serve_live
from tests.support.node import Node
from tests.support.worker_events import worker_event

SIGNED = {"HEADWATER_PLAYBACK_SECRET": "bench-playback-secret-0123456789abcdef"}


def delivery(work: Path, rounds: int, wrk_seconds: int, size: str) -> None:
    nodes = {"signed": Node(work / "signed", env=SIGNED).start(), "unsigned": Node(work / "unsigned").start()}
    publishers = []
    try:
        seconds = rounds * 4 * (wrk_seconds + 1) + 60
        bases = publish_to_each(
            nodes,
            publishers,
            seconds,
            size,
            lambda node, stream: stream["hls_cmaf_url"].removesuffix("/master.m3u8") + "/origin",
        )
        assert "/t/" in bases["signed"] and "/t/" not in bases["unsigned"], bases
        rates, costs = in_turns(nodes, bases, rounds, wrk_seconds, min(wrk_seconds, PART_SECONDS))
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


async def _unrouted(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


async def fast_path(work: Path, rounds: int, seconds: int) -> None:
    """The fast path's CPU per request, signed and unsigned, in this process (see the docstring)."""
    stream = LiveStream(7, work, asyncio.get_running_loop())
    master = "#EXTM3U\n#EXT-X-VERSION:9\n" + "#EXT-X-STREAM-INF:BANDWIDTH=2000000\norigin/index.m3u8\n" * 20
    stream.apply(worker_event({"event": "master", "path": "master.m3u8", "text": master}))
    tokens = PlaybackTokens(SIGNED["HEADWATER_PLAYBACK_SECRET"].encode(), 3600)
    costs: dict[str, list[float]] = {"signed": [], "unsigned": []}
    for index in range(rounds):
        for name in ("signed", "unsigned") if index % 2 == 0 else ("unsigned", "signed"):
            live = LiveHttp(lambda i: stream if i == 7 else None, segment_target=2.0, part_target=0.5, metered=False)
            app = LiveFirst(_unrouted, live)
            signed = name == "signed"
            token = tokens.token("/live/7/") if signed else ""
            async with serve_live(SignedPlayback(app, tokens) if signed else app, tokens if signed else None) as port:
                cpu = time.process_time()
                wrk_run = await asyncio.create_subprocess_exec(
                    *("wrk", "-t2", "-c64", f"-d{seconds}s", f"http://127.0.0.1:{port}/live/7/{token}master.m3u8"),
                    stdout=asyncio.subprocess.PIPE,
                )
                out = (await wrk_run.communicate())[0].decode()
                cpu = time.process_time() - cpu
            if "Non-2xx" in out:
                raise RuntimeError(f"the {name} fast path answered errors:\n{out}")
            costs[name].append(1e6 * cpu / int(re.search(r"(\d+) requests in", out).group(1)))
    on, off = statistics.median(costs["signed"]), statistics.median(costs["unsigned"])
    print(f"fast path alone (in process, 1 KB playlist, wrk -t2 -c64, {rounds} rounds of {seconds} s in turns):")
    print(f"  CPU per request signed {on:.1f} µs, unsigned {off:.1f} µs → ratio {smoke.ratio(on, off):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    smoke.add_flag(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-signed-") as work:
        if args.smoke:
            delivery(Path(work), 1, 1, "640x360")
            asyncio.run(fast_path(Path(work), 2, 1))
        else:
            delivery(Path(work), args.rounds, 8, "1280x720")
            asyncio.run(fast_path(Path(work), 2 * args.rounds, 4))


if __name__ == "__main__":
    main()
