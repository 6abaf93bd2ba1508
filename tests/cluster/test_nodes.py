"""Several nodes on one PostgreSQL: each registers and says who it is; a live stream has one
owner, the other nodes refuse its publishers (RTMP, SRT, WHIP) until it lets go, and its
viewers may come to any node (proxied by node 2, redirected by node 3)."""

from __future__ import annotations

import secrets
import subprocess

import httpx
import pytest
from sqlalchemy import create_engine, text

from server.db.engine import sync_url
from tests.e2e.conftest import fetch_ok, wait_for
from tests.support.node import Node
from tests.support.publisher import ffmpeg_publish


@pytest.fixture(scope="module")
def cluster(postgres_server, tmp_path_factory):
    """Three nodes, `node-1` to `node-3`, on one database, with one API key; node 3 redirects
    viewers of other nodes' streams, the others proxy them."""
    url = postgres_server.create_database()
    env = {"HEADWATER_API_KEY": secrets.token_urlsafe(24)}
    viewers = {1: "proxy", 2: "proxy", 3: "redirect"}
    nodes = [
        Node(
            tmp_path_factory.mktemp(f"node-{n}"),
            database_url=url,
            env={**env, "HEADWATER_NODE_ID": f"node-{n}", "HEADWATER_CLUSTER_VIEWERS": viewers[n]},
        )
        for n in viewers
    ]
    for node in nodes:
        node.api_key = env["HEADWATER_API_KEY"]
        node.start()
    yield url, nodes
    for node in nodes:
        node.stop()


def sql(url: str, query: str) -> list[tuple]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(query))]
    finally:
        engine.dispose()


def rtmp_url(node: Node, stream: dict) -> str:
    return f"rtmp://127.0.0.1:{node.rtmp_port}/in/{stream['id']}?{stream['token']}"


def srt_url(node: Node, stream: dict) -> str:
    return f"srt://127.0.0.1:{node.srt_port}?streamid=in/{stream['id']}/{stream['token']}"


def refused(publisher: subprocess.Popen) -> bool:
    try:
        return publisher.wait(timeout=20) != 0
    finally:
        publisher.kill()


def test_each_node_registers_and_health_names_it(cluster):
    url, nodes = cluster
    for node in nodes:
        assert httpx.get(f"{node.base_url}/health").json() == {"status": "ok", "node": node.env["HEADWATER_NODE_ID"]}
    rows = dict(sql(url, "SELECT id, http_url FROM nodes"))
    assert rows == {f"node-{n}": node.base_url for n, node in enumerate(nodes, 1)}


def test_a_live_stream_has_one_owner_and_other_nodes_refuse_its_publishers(cluster):
    url, (first, second, _) = cluster
    created = httpx.post(f"{second.base_url}/streaming/streams", json={"name": "one owner"}, headers=second.headers)
    stream = created.json()  # made through node 2: the API works on any node
    key = f"stream/{stream['id']}"
    publisher = ffmpeg_publish(rtmp_url(first, stream), seconds=60)
    try:
        wait_for(lambda: fetch_ok(httpx, f"{first.base_url}/live/{stream['id']}/master.m3u8"), what="node 1 live")
        assert sql(url, f"SELECT node_id FROM leases WHERE key = '{key}'") == [("node-1",)]

        assert refused(ffmpeg_publish(rtmp_url(second, stream), seconds=3))
        assert refused(ffmpeg_publish(srt_url(second, stream), seconds=3, container="mpegts"))
        offer = httpx.post(
            f"{second.base_url}/whip/{stream['id']}",
            content=b"v=0\r\n",
            headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {stream['token']}"},
        )
        assert offer.status_code == 409 and "node-1" in offer.json()["message"]
        wait_for(lambda: second.log().count(f"stream {stream['id']}: publisher refused: node node-1 runs it") >= 2)
        assert publisher.poll() is None  # the owner's publisher goes on
    finally:
        publisher.kill()
        publisher.wait()
    wait_for(lambda: not sql(url, f"SELECT node_id FROM leases WHERE key = '{key}'"), what="node 1 to let go")
    publisher = ffmpeg_publish(rtmp_url(second, stream), seconds=60)
    try:
        wait_for(lambda: fetch_ok(httpx, f"{second.base_url}/live/{stream['id']}/master.m3u8"), what="node 2 live")
        assert sql(url, f"SELECT node_id FROM leases WHERE key = '{key}'") == [("node-2",)]
    finally:
        publisher.kill()
        publisher.wait()
