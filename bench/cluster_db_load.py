"""The database's load per live stream on a cluster, and that it stays flat in viewers.

Three nodes on one PostgreSQL with `pg_stat_statements`; every statement the nodes send is
counted (BEGIN and COMMIT too) over a window at steady state, in three phases of one run:
the nodes idle (heartbeats and lease renewals: per node, not per stream), `--streams` live
streams published to node 1 with nobody watching, then the same with, for each count in `--viewers`,
that many LL-HLS clients on node 1 (direct) and as many on node 2 (proxied to node 1), each
blocking on the next part of one stream's playlist. Per live stream = (live − idle) /
streams. Viewers cost the database nothing on the owner; a node proxying them looks the
owner up at most once a second per stream (server/cluster/relay.py), whatever their number:
the ratio of the most watched phase to the least should stay near 1.

    python -m bench.cluster_db_load [--streams 2] [--viewers 5 25] [--window 20] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg

from bench import smoke
from tests.support.hls import parse_media_playlist
from tests.support.node import Node
from tests.support.postgres import PostgresServer
from tests.support.publisher import ffmpeg_publish

COUNTED = """
    SELECT coalesce(sum(calls), 0) FROM pg_stat_statements
    WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND query NOT ILIKE '%pg_stat_statements%'
"""


class Statements:
    """Statements the nodes sent to the database since the last `reset`."""

    def __init__(self, url: str) -> None:
        self.connection = psycopg.connect(url, autocommit=True)
        self.connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

    def reset(self) -> None:
        self.connection.execute("SELECT pg_stat_statements_reset()")

    def count(self) -> int:
        row = self.connection.execute(COUNTED).fetchone()
        return int(row[0]) if row else 0

    def rate(self, window: float) -> float:
        self.reset()
        began = time.monotonic()
        time.sleep(window)
        return self.count() / (time.monotonic() - began)


async def viewer(base: str, path: str, until: float) -> None:
    """An LL-HLS player's playlist loop: a blocking reload for the next part, again and again."""
    async with httpx.AsyncClient(base_url=base, timeout=15) as client:
        playlist = None
        while time.monotonic() < until:
            if playlist is None or not playlist.segments:
                response = await client.get(path)
            else:
                msn = playlist.segments[-1].msn + 1
                response = await client.get(path, params={"_HLS_msn": msn, "_HLS_part": len(playlist.pending_parts)})
            playlist = parse_media_playlist(response.text) if response.status_code == 200 else None
            if playlist is None:
                await asyncio.sleep(0.2)


def watched_rate(statements: Statements, nodes: list[Node], paths: list[str], viewers: int, window: float) -> float:
    """The statements' rate while `viewers` clients per node (1 and 2) follow the streams."""

    async def watch() -> float:
        until = time.monotonic() + window + 3
        clients = [viewer(node.base_url, paths[n % len(paths)], until) for node in nodes[:2] for n in range(viewers)]
        tasks = [asyncio.create_task(c) for c in clients]
        await asyncio.sleep(2)  # the clients have started
        rate = await asyncio.to_thread(statements.rate, window)
        await asyncio.gather(*tasks)
        return rate

    return asyncio.run(watch())


def run(work: Path, streams: int, viewers: list[int], window: float) -> None:
    postgres = PostgresServer({"shared_preload_libraries": "pg_stat_statements"}).start()
    url = postgres.create_database()
    nodes = [Node(work / f"node-{n}", database_url=url, env={"HEADWATER_NODE_ID": f"node-{n}"}) for n in (1, 2, 3)]
    publishers = []
    try:
        statements = Statements(url)
        with ThreadPoolExecutor(len(nodes)) as starting:
            list(starting.map(lambda node: node.start(timeout=300), nodes))
        owner = nodes[0]
        time.sleep(2)  # past the start's one-off statements
        idle = statements.rate(window)
        paths = []
        for n in range(streams):
            stream = httpx.post(
                f"{owner.base_url}/streaming/streams", headers=owner.headers, json={"name": f"load {n}"}
            ).json()
            url_in = f"rtmp://127.0.0.1:{owner.rtmp_port}/in/{stream['id']}?{stream['token']}"
            publishers.append(ffmpeg_publish(url_in, seconds=3 * window + 60))
            paths.append(f"/live/{stream['id']}/origin/index.m3u8")
        for path in paths:
            deadline = time.monotonic() + 60
            while httpx.get(f"{owner.base_url}{path}").status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.2)
        time.sleep(6)  # past each stream's first status writes (went live, first stats)
        live = statements.rate(window)
        watched = [(count, watched_rate(statements, nodes, paths, count, window)) for count in viewers]
        print(f"three nodes on one PostgreSQL; {window:.0f} s windows; statements include BEGIN and COMMIT")
        rows = [("idle (no stream)", idle), (f"{streams} live streams, no viewers", live)]
        rows += [(f"{streams} live streams, {2 * count} viewers (half proxied)", rate) for count, rate in watched]
        rows.append(("per live stream at steady state", (live - idle) / streams))
        for name, rate in rows:
            print(f"{name:<44}: {rate:6.2f} statements/s")
        (fewest, least), (most, busiest) = watched[0], watched[-1]
        label = f"ratio {2 * most} viewers / {2 * fewest} viewers"
        print(f"{label:<44}: {smoke.ratio(busiest, least):6.3f}")
    finally:
        for publisher in publishers:
            publisher.kill()
            publisher.wait()
        for node in nodes:
            node.stop()
        postgres.stop()


def main(streams: int, viewers: list[int], window: float) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-cluster-db-") as work:
        run(Path(work), streams, viewers, window)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=2)
    parser.add_argument(
        "--viewers", type=int, nargs="+", default=[5, 25], help="LL-HLS clients on each of nodes 1 and 2, per phase"
    )
    parser.add_argument("--window", type=float, default=20.0, help="seconds each phase is counted")
    smoke.add_flag(parser)
    arguments = parser.parse_args()
    if arguments.smoke:
        main(1, [1, 2], 3.0)
    else:
        main(arguments.streams, arguments.viewers, arguments.window)
