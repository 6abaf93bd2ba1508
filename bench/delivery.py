"""Delivery: live playlists and parts served by the node, next to nginx serving the same bytes.

1. Throughput: `wrk` against the node's live media playlist and a recent part (served from
   memory), then against nginx serving identical bytes as static files, same run, same
   settings; prints requests/s and the ratio (target ≥ 10 % of nginx).
2. Fan-out: CLIENTS concurrent LL-HLS clients (blocking reload + part fetch, in two client
   processes) follow one stream; for every part, each client's arrival time (when its kernel
   received the last byte) is compared with the first client's; prints the spread (target:
   every part to every client within 100 ms) and whether every client got every part; and
   the same spread of the times the client processes read the parts, which adds their own
   queue (two Python processes sharing the server's two cores). Run twice: as hls.js plays (the part is asked
   for once the reload's answer is read), then as Apple's players do (the preload-hinted
   part is asked for along with the reload, so both are answered the moment it is ready).

    python -m bench.delivery [--clients 500] [--seconds 20] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from bench import smoke
from bench.hls_client import follow, last_part
from bench.nginx_rtmp import NginxRtmp
from bench.proctree import cpu_seconds
from tests.support.node import Node
from tests.support.publisher import ffmpeg_publish

WRK_SECONDS = 8
WRK_CONNECTIONS = 64
PART_SECONDS = 3


def wrk(url: str, seconds: int, headers: tuple[str, ...] = ()) -> float:
    """Requests/s; `headers` as wrk's `-H` takes them (`"Accept-Encoding: gzip"`)."""
    extra = [arg for header in headers for arg in ("-H", header)]
    out = subprocess.run(
        ["wrk", "-t2", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", *extra, url], capture_output=True, text=True, check=True
    ).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"{url} answered errors under load:\n{out}")
    return float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))


def newest_part(base: str) -> tuple[str, bytes]:
    """A complete part that stays in the live window for a few more seconds."""
    uri = last_part(httpx.get(f"{base}/index.m3u8").text)[2][-2][0]
    return uri, httpx.get(f"{base}/{uri}").content


def throughput(node: Node, stream_id: int, nginx: NginxRtmp, wrk_seconds: int, part_seconds: int) -> None:
    base = f"{node.base_url}/live/{stream_id}/origin"
    print(f"throughput: wrk -t2 -c{WRK_CONNECTIONS}, same machine, same run")
    text = httpx.get(f"{base}/index.m3u8").text
    (nginx.static_dir / "index.m3u8").write_text(text)
    report(
        "playlist", len(text), wrk(f"{base}/index.m3u8", wrk_seconds), wrk(nginx.url("static/index.m3u8"), wrk_seconds)
    )
    uri, part = newest_part(base)  # parts leave the window ~3 segments later: short runs
    (nginx.static_dir / "part.m4s").write_bytes(part)
    report("part", len(part), wrk(f"{base}/{uri}", part_seconds), wrk(nginx.url("static/part.m4s"), part_seconds))


def report(name: str, size: int, headwater: float, reference: float) -> None:
    print(
        f"  {name:8} ({size:7d} B): Headwater {headwater:8.0f} req/s, nginx static {reference:8.0f} req/s"
        f" → ratio {headwater / reference:.3f} (target ≥ 0.10)"
    )


def client_process(port: int, playlist: str, clients: int, seconds: float, queue, hints: bool = False) -> None:
    import uvloop

    async def run() -> list[tuple[dict, dict]]:
        until = time.monotonic() + seconds
        results = [({}, {}, {}) for _ in range(clients)]
        await asyncio.gather(
            *(
                follow("127.0.0.1", port, playlist, until, parts, listed=listed, hints=hints, handled=handled)
                for parts, listed, handled in results
            )
        )
        return results

    queue.put(uvloop.run(run()))


def spread(arrivals: list[dict]) -> tuple[list[float], int, int]:
    """Each client's arrival minus the first client's, per part; parts checked; misses."""
    parts = set().union(*(a.keys() for a in arrivals))
    # The first and last few parts are cut by the clients' start and stop times.
    common = sorted(parts, key=lambda uri: min(a[uri] for a in arrivals if uri in a))[2:-2]
    spreads, missing = [], 0
    for uri in common:
        times = [a[uri] for a in arrivals if uri in a]
        missing += len(arrivals) - len(times)
        first = min(times)
        spreads.extend(t - first for t in times)
    return sorted(spreads), len(common), missing


def describe(name: str, spreads: list[float]) -> str:
    if not spreads:
        return f"  {name}: no part reached every client"
    within = sum(s <= 0.100 for s in spreads) / len(spreads)
    p99 = spreads[int(0.99 * (len(spreads) - 1))]
    return (
        f"  {name}: after the first client median {1000 * statistics.median(spreads):.1f} ms, "
        f"p99 {1000 * p99:.1f} ms, max {1000 * spreads[-1]:.1f} ms; within 100 ms: {100 * within:.2f} %"
    )


def fan_out(node: Node, stream_id: int, clients: int, seconds: float, *, hints: bool) -> None:
    playlist = f"/live/{stream_id}/origin/index.m3u8"
    queue = multiprocessing.Queue()
    halves = [clients // 2, clients - clients // 2]
    workers = [
        multiprocessing.Process(target=client_process, args=(node.http_port, playlist, n, seconds, queue, hints))
        for n in halves
    ]
    for worker in workers:
        worker.start()
    node_cpu, started = cpu_seconds([node.process.pid]), time.monotonic()
    results = [r for _ in workers for r in queue.get()]
    node_cpu = (cpu_seconds([node.process.pid]) - node_cpu) / (time.monotonic() - started)
    for worker in workers:
        worker.join()
    part_spreads, checked, missing = spread([parts for parts, _, _ in results])
    listed_spreads, _, _ = spread([listed for _, listed, _ in results])
    handled_spreads, _, _ = spread([handled for _, _, handled in results])
    way = "reload and preload-hinted part together" if hints else "reload, then fetch the part"
    print(
        f"fan-out: {clients} blocking-reload clients ({way}), {seconds:.0f} s, "
        f"{checked} parts checked; node process (without its worker) {100 * node_cpu:.0f} % of a core"
    )
    print(describe("playlist naming the part", listed_spreads))
    print(describe("part bytes              ", part_spreads))
    print(describe("  (read by the client   ", handled_spreads) + ")")
    print(f"  parts missed by some client: {missing} of {checked * len(results)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=20)
    smoke.add_flag(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-delivery-") as work:
        if args.smoke:  # 4 clients for 4 s, wrk for 1 s, a 360p publish
            run(Path(work), 4, 4.0, wrk_seconds=1, part_seconds=1, size="640x360")
        else:
            run(Path(work), args.clients, args.seconds)


def run(
    work: Path,
    clients: int,
    seconds: float,
    *,
    wrk_seconds: int = WRK_SECONDS,
    part_seconds: int = PART_SECONDS,
    size: str = "1280x720",
) -> None:
    node = Node(work / "node").start()
    nginx = NginxRtmp(hls=False).start()
    publisher = None
    try:
        stream = httpx.post(
            f"{node.base_url}/streaming/streams", headers=node.headers, json={"name": "delivery"}
        ).json()
        publisher = ffmpeg_publish(
            stream["push_url"],
            seconds=3 * wrk_seconds + 2 * seconds + 40,
            size=size,
            rate=30,
            gop=60,
            extra=["-b:v", "2M", "-maxrate", "2M", "-bufsize", "2M"],
        )
        url = f"{node.base_url}/live/{stream['id']}/origin/index.m3u8"
        while httpx.get(url).status_code != 200 or len(last_part(httpx.get(url).text)[2]) < 4:
            time.sleep(0.2)
        throughput(node, stream["id"], nginx, wrk_seconds, part_seconds)
        fan_out(node, stream["id"], clients, seconds, hints=False)
        fan_out(node, stream["id"], clients, seconds, hints=True)
    finally:
        if publisher is not None:
            publisher.kill()
        nginx.stop()
        node.stop()


if __name__ == "__main__":
    main()
