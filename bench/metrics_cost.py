"""What /metrics' and the statistics' bookkeeping costs: `bench.delivery`'s req/s and
`bench.stream_cost`'s CPU with it on and off, same run. `--switch` picks what the second node
turns off: `metrics` (`HEADWATER_METRICS=false`), `statistics` (`HEADWATER_STATISTICS=false`:
no user agents noted, no viewer sessions written to SQL) or `all` (both, the node keeping no
viewer bookkeeping at all).

1. Delivery: two nodes side by side, each with its own 720p publisher, one with the switch on
   (and, for metrics, scraped every SCRAPE_EVERY seconds, as Prometheus would, more often),
   one off. `wrk` (as bench.delivery: -t2 -c64) against each node's media playlist and a
   recent part, the two nodes in turns for ROUNDS rounds; prints the median req/s of each and
   the ratio (the issue's bound: the bookkeeping costs ≤ 5 %, ratio ≥ 0.95).
2. Stream cost: bench.stream_cost's Headwater side (STREAMS passthrough 1080p30 streams,
   CPU of node + workers, no viewers, then one LL-HLS viewer per stream), once on, once off;
   prints % of a core per stream and the ratio (bound ≤ 1.05).

    python -m bench.metrics_cost [--switch metrics|statistics|all] [--rounds 3] [--streams 2]
                                 [--seconds 20] [--smoke]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench import smoke
from bench.clips import make_clip
from bench.delivery import newest_part, wrk
from bench.hls_client import last_part
from bench.proctree import cpu_seconds
from bench.stream_cost import WARM_UP, headwater, per_stream
from tests.support.node import Node
from tests.support.publisher import ffmpeg_publish

SCRAPE_EVERY = 5.0
SWITCHES = {
    "metrics": {"HEADWATER_METRICS": "false"},
    "statistics": {"HEADWATER_STATISTICS": "false"},
    "all": {"HEADWATER_METRICS": "false", "HEADWATER_STATISTICS": "false"},
}
OFF = SWITCHES["metrics"]


class Scraper:
    """GET /metrics every SCRAPE_EVERY seconds while it runs."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.scrapes = 0

    def _run(self) -> None:
        while not self.stop.wait(SCRAPE_EVERY):
            if httpx.get(f"{self.base_url}/metrics", timeout=10).status_code == 200:
                self.scrapes += 1

    def __enter__(self) -> Scraper:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop.set()
        self.thread.join()


def delivery(
    work: Path, rounds: int, wrk_seconds: int, size: str, off: dict | None = OFF, switch: str = "metrics"
) -> None:
    """`off`: the second node's settings (an A/A run gives it none); `switch`: what it turns
    off, for the report (the first node is scraped when that is metrics)."""
    nodes = {"on": Node(work / "on").start(), "off": Node(work / "off", env=off).start()}
    publishers = []
    try:
        seconds = rounds * 4 * (wrk_seconds + 1) + 60
        bases = publish_to_each(
            nodes, publishers, seconds, size, lambda node, stream: f"{node.base_url}/live/{stream['id']}/origin"
        )
        scraper = Scraper(nodes["on"].base_url) if switch in ("metrics", "all") else contextlib.nullcontext()
        with scraper:
            rates, costs = in_turns(nodes, bases, rounds, wrk_seconds)
        scraped = f" (scraped {scraper.scrapes} times)" if isinstance(scraper, Scraper) else ""
        print(
            f"delivery: wrk -t2 -c64, {rounds} rounds of {wrk_seconds} s per node in turns, "
            f"{switch} on{scraped} and off"
        )
        for kind in ("playlist", "part"):
            on, off = statistics.median(rates["on", kind]), statistics.median(rates["off", kind])
            on_cost, off_cost = statistics.median(costs["on", kind]), statistics.median(costs["off", kind])
            print(
                f"  {kind:8}: {switch} on {on:8.0f} req/s, off {off:8.0f} req/s → ratio on / off "
                f"{smoke.ratio(on, off):.3f} (bound ≥ 0.95); node CPU per request on {on_cost:.1f} µs, "
                f"off {off_cost:.1f} µs → ratio {smoke.ratio(on_cost, off_cost):.3f}"
            )
    finally:
        for publisher in publishers:
            publisher.kill()
        for node in nodes.values():
            node.stop()


def publish_to_each(
    nodes: dict[str, Node], publishers: list, seconds: float, size: str, base_of: Callable[[Node, dict], str]
) -> dict[str, str]:
    """A stream on each node with an ffmpeg publisher (added to `publishers`, for the caller
    to stop); each stream's media playlist base (`base_of(node, stream)`), once it lists parts."""
    bases = {}
    for name, node in nodes.items():
        stream = httpx.post(f"{node.base_url}/streaming/streams", headers=node.headers, json={"name": name}).json()
        publishers.append(
            ffmpeg_publish(
                stream["push_url"],
                seconds=seconds,
                size=size,
                rate=30,
                gop=60,
                extra=["-b:v", "2M", "-maxrate", "2M", "-bufsize", "2M"],
            )
        )
        bases[name] = base_of(node, stream)
    for base in bases.values():
        while (
            httpx.get(f"{base}/index.m3u8").status_code != 200
            or len(last_part(httpx.get(f"{base}/index.m3u8").text)[2]) < 4
        ):
            time.sleep(0.2)
    return bases


def in_turns(
    nodes: dict[str, Node], bases: dict[str, str], rounds: int, wrk_seconds: int, part_seconds: int | None = None
) -> tuple[dict[tuple[str, str], list[float]], dict[tuple[str, str], list[float]]]:
    """wrk on each node's playlist and a recent part, the nodes taking turns (the order
    flipped every round): (req/s, node CPU µs per request) by (node, kind)."""
    rates: dict[tuple[str, str], list[float]] = {}
    costs: dict[tuple[str, str], list[float]] = {}
    names = list(nodes)
    for index in range(rounds):
        order = names if index % 2 == 0 else names[::-1]
        for name, kind in ((name, kind) for name in order for kind in ("playlist", "part")):
            seconds = wrk_seconds if kind == "playlist" or part_seconds is None else part_seconds
            rate, cost = measured(bases[name], nodes[name].process.pid, kind, seconds)
            rates.setdefault((name, kind), []).append(rate)
            costs.setdefault((name, kind), []).append(cost)
    return rates, costs


def measured(base: str, pid: int, kind: str, wrk_seconds: int, attempts: int = 3) -> tuple[float, float]:
    """(req/s, node CPU µs per request) of wrk on the playlist or a recent part. A part can
    leave the window during the run when the worker catches up in a burst (a loaded
    machine: the publisher fell behind real time): then again, with a newer part."""
    for attempt in range(attempts):
        url = f"{base}/index.m3u8" if kind == "playlist" else f"{base}/{newest_part(base)[0]}"
        cpu, started = cpu_seconds([pid]), time.monotonic()
        try:
            rate = wrk(url, wrk_seconds)
        except RuntimeError:
            if kind == "playlist" or attempt == attempts - 1:
                raise
            print(f"  ({url} left the window during the run: measured again with a newer part)")
            continue
        requests = rate * (time.monotonic() - started)
        return rate, 1e6 * (cpu_seconds([pid]) - cpu) / requests
    raise AssertionError("unreachable")


def stream_cost(work: Path, clip: Path, streams: int, seconds: float, warm_up: float, switch: str = "metrics") -> None:
    scrapers: list[Scraper] = []

    def scraped(node: Node) -> Scraper:
        scrapers.append(Scraper(node.base_url))
        return scrapers[-1]

    alongside = scraped if switch in ("metrics", "all") else None
    on, on_viewed, _ = headwater(clip, streams, seconds, work / "on", warm_up, alongside=alongside)
    scrapes = f" (scraped {scrapers[0].scrapes} times)" if scrapers else ""
    off, off_viewed, _ = headwater(clip, streams, seconds, work / "off", warm_up, env=SWITCHES[switch])
    print(f"stream cost: {streams} passthrough streams, windows of {seconds:.0f} s; % of a core per stream")
    print(
        f"  no viewers    : {switch} on {per_stream(on, streams)}{scrapes}, "
        f"off {per_stream(off, streams)} → ratio on / off {smoke.ratio(on, off):.3f} (bound ≤ 1.05)"
    )
    print(
        f"  LL-HLS viewers: {switch} on {per_stream(on_viewed, streams)}, off {per_stream(off_viewed, streams)}"
        f" → ratio on / off {smoke.ratio(on_viewed, off_viewed):.3f} (bound ≤ 1.05)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--switch", choices=sorted(SWITCHES), default="metrics", help="what the second node turns off")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--streams", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=20)
    smoke.add_flag(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as work:
        off, switch = SWITCHES[args.switch], args.switch
        if args.smoke:
            delivery(Path(work) / "delivery", 1, 1, "640x360", off, switch)
            clip = make_clip(smoke.CLIP_SECONDS, size=smoke.CLIP_SIZE, directory=Path(work))
            stream_cost(Path(work) / "cost", clip, 1, 2.0, 1.0, switch)
        else:
            delivery(Path(work) / "delivery", args.rounds, 8, "1280x720", off, switch)
            stream_cost(Path(work) / "cost", make_clip(60), args.streams, args.seconds, WARM_UP, switch)


if __name__ == "__main__":
    main()
