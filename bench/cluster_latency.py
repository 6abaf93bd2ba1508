"""Added latency for a viewer on a node that does not run the stream: proxied and redirected.

Three nodes on one PostgreSQL: node 1 runs the stream (one numbered publisher, bench/framecode.py),
node 2 proxies its viewers to node 1 (`HEADWATER_CLUSTER_VIEWERS=proxy`, the default), node 3
answers them 307 to node 1 (`redirect`; the client follows every redirect, as a player whose
every request lands on that node behind a load balancer would). Three LL-HLS clients run
together, each doing what hls.js does (bench/latency.py's `follow_ll_hls`: a blocking reload
for the next part, then the part), one per node; the latency of a frame is when the part holding
it arrived − when the frame left the publisher. The reference is the client on node 1, in the
same run: the added p95 through a node is its p95 minus node 1's (target: ≤ 50 ms on loopback).

    python -m bench.cluster_latency [--seconds 40] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench import smoke
from bench.latency import follow_ll_hls, print_added_latency
from bench.rtmp_publisher import NumberedPublisher
from tests.support.node import Node
from tests.support.postgres import PostgresServer

VIEWERS = {"direct (node 1, owner)": "proxy", "via node 2, proxy": "proxy", "via node 3, redirect": "redirect"}


def start_nodes(nodes: list[Node]) -> None:
    with ThreadPoolExecutor(len(nodes)) as starting:
        list(starting.map(lambda node: node.start(timeout=300), nodes))


async def run(work: Path, seconds: float, tail: float) -> None:
    postgres = PostgresServer().start()
    url = postgres.create_database()
    nodes = [
        Node(
            work / f"node-{n}",
            database_url=url,
            env={"HEADWATER_NODE_ID": f"node-{n}", "HEADWATER_CLUSTER_VIEWERS": mode},
        )
        for n, mode in enumerate(VIEWERS.values(), 1)
    ]
    try:
        await asyncio.to_thread(start_nodes, nodes)
        owner = nodes[0]
        created = await asyncio.to_thread(
            httpx.post, f"{owner.base_url}/streaming/streams", headers=owner.headers, json={"name": "cluster latency"}
        )
        stream = created.json()
        publisher = NumberedPublisher([f"rtmp://127.0.0.1:{owner.rtmp_port}/in/{stream['id']}?{stream['token']}"])
        publisher.seconds = seconds + tail
        publisher.start()
        while publisher.started_at is None:  # noqa: ASYNC110 - set by the publisher's thread
            await asyncio.sleep(0.01)
        until = publisher.started_at + seconds
        results: list[dict] = [{"latencies": []} for _ in nodes]
        await asyncio.gather(
            *(
                follow_ll_hls(f"{node.base_url}/live/{stream['id']}", publisher, until, out, follow_redirects=True)
                for node, out in zip(nodes, results, strict=True)
            )
        )
        publisher.join()
        print(f"{seconds:.0f} s of 640x360 25 fps, 0.5 s parts; three LL-HLS clients together, one per node")
        print_added_latency(VIEWERS, results, 24)
    finally:
        for node in nodes:
            node.stop()
        postgres.stop()


def main(seconds: float, tail: float) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-cluster-latency-") as work:
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
