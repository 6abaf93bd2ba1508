"""LL-HLS through the nginx cache in front (`docker/nginx-cache.conf`) against the node direct.

One node runs the stream (one numbered publisher, bench/framecode.py); nginx with the
repository's cache template is in front of it (`tests/support/nginx_cache.py`). Three LL-HLS
clients run together, each doing what hls.js does (bench/latency.py's `follow_ll_hls`: a
blocking reload for the next part, then the part): one on the node, two through nginx (the
second finds most parts cached by the first, or waits on the first's miss: proxy_cache_lock).
The latency of a frame is when the part holding it arrived − when the frame left the
publisher; the added p95 through nginx is its p95 minus the direct client's, same run
(target: within 100 ms).

    python -m bench.cache_latency [--seconds 40] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

import httpx

from bench import smoke
from bench.latency import follow_ll_hls, print_added_latency
from bench.rtmp_publisher import NumberedPublisher
from tests.support.nginx_cache import NginxCache
from tests.support.node import Node

CLIENTS = ["direct (node)", "via nginx, first", "via nginx, second"]


async def run(work: Path, seconds: float, tail: float) -> None:
    node = Node(work / "node")
    (work / "node").mkdir()
    await asyncio.to_thread(node.start, 120)
    cache = NginxCache([f"127.0.0.1:{node.http_port}"]).start()
    try:
        created = await asyncio.to_thread(
            httpx.post, f"{node.base_url}/streaming/streams", headers=node.headers, json={"name": "cache latency"}
        )
        stream = created.json()
        publisher = NumberedPublisher([f"rtmp://127.0.0.1:{node.rtmp_port}/in/{stream['id']}?{stream['token']}"])
        publisher.seconds = seconds + tail
        publisher.start()
        while publisher.started_at is None:  # noqa: ASYNC110 - set by the publisher's thread
            await asyncio.sleep(0.01)
        until = publisher.started_at + seconds
        bases = [node.base_url, cache.base_url, cache.base_url]
        results: list[dict] = [{"latencies": []} for _ in CLIENTS]
        await asyncio.gather(
            *(
                follow_ll_hls(f"{base}/live/{stream['id']}", publisher, until, out)
                for base, out in zip(bases, results, strict=True)
            )
        )
        publisher.join()
        print(f"{seconds:.0f} s of 640x360 25 fps, 0.5 s parts; three LL-HLS clients together")
        print_added_latency(CLIENTS, results, 18)
    finally:
        cache.stop()
        node.stop()


def main(seconds: float, tail: float) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-cache-latency-") as work:
        asyncio.run(run(Path(work), seconds, tail))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40, help="how long the clients follow the stream")
    smoke.add_flag(parser)
    arguments = parser.parse_args()
    if arguments.smoke:
        main(6, 1)
    else:
        main(arguments.seconds, 5)
