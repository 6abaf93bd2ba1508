"""Several nodes on one PostgreSQL: each registers and says who it is; a live stream has one
owner, the other nodes refuse its publishers (RTMP, SRT, WHIP) until it lets go, and its
viewers may come to any node (proxied by node 2, redirected by node 3); a pull stream
moves off a node that dies, and so does a pushed stream whose backup publisher is on another
node, their numbering going on. Those two kill a node each (3, then 1 or 2): they come last."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import create_engine, text

from server.db.engine import sync_url
from tests.e2e.conftest import fetch_ok, wait_for
from tests.support.hls import parse_master_playlist, parse_media_playlist
from tests.support.node import Node
from tests.support.players import ffmpeg_read
from tests.support.publisher import ffmpeg_publish
from tests.support.sources import HttpDirectory, hls_writer


@pytest.fixture(scope="module")
def cluster(postgres_server, tmp_path_factory):
    """Three nodes, `node-1` to `node-3`, on one database, with one API key; node 3 redirects
    viewers of other nodes' streams, the others proxy them."""
    url = postgres_server.create_database()
    env = {"HEADWATER_API_KEY": secrets.token_urlsafe(24), "HEADWATER_LEASE_TTL": "3"}
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
    try:
        with ThreadPoolExecutor(len(nodes)) as starting:  # together: their migrations take turns (env.py)
            list(starting.map(lambda node: node.start(timeout=120), nodes))  # three imports at once on 2 cores
        yield url, nodes
    finally:
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
        refusal = f"stream {stream['id']}: main publisher refused: node node-1 has that slot"
        wait_for(lambda: second.log().count(refusal) >= 2, what="two refusals logged")
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


def follow_parts(base: str, path: str, count: int) -> list[bytes]:
    """What an LL-HLS player does: a blocking reload for the next part, then that part; the
    parts' bytes, `count` of them in a row."""
    parts = []
    with httpx.Client(base_url=base, timeout=15, follow_redirects=True) as client:
        playlist = parse_media_playlist(client.get(path).text)
        msn, part = playlist.segments[-1].msn + 1, 0
        folder = path.rsplit("/", 1)[0]
        while len(parts) < count:
            reload = client.get(path, params={"_HLS_msn": msn, "_HLS_part": part})
            assert reload.status_code == 200, reload.text
            playlist = parse_media_playlist(reload.text)
            segment = next((s for s in playlist.segments if s.msn == msn), None)
            listed = segment.parts if segment else playlist.pending_parts
            if part >= len(listed):  # the segment ended before this part: the next one's first
                msn, part = msn + 1, 0
                continue
            media = client.get(f"{folder}/{listed[part].uri}")
            assert media.status_code == 200
            parts.append(media.content)
            part += 1
    return parts


def test_viewers_play_a_stream_from_any_node(cluster):
    _, (first, second, third) = cluster
    created = httpx.post(f"{first.base_url}/streaming/streams", json={"name": "any node"}, headers=first.headers)
    stream = created.json()
    publisher = ffmpeg_publish(rtmp_url(first, stream), seconds=60)
    master = f"/live/{stream['id']}/master.m3u8"
    try:
        own = wait_for(lambda: fetch_ok(httpx, f"{first.base_url}{master}"), what="node 1 live")
        proxied = httpx.get(f"{second.base_url}{master}")
        assert proxied.status_code == 200 and proxied.text == own.text
        relayed_once = httpx.get(f"{second.base_url}{master}", headers={"X-Headwater-Relayed": "1"})
        assert relayed_once.status_code == 404  # a relayed request is never relayed again
        redirect = httpx.get(f"{third.base_url}{master}")
        assert redirect.status_code == 307
        assert redirect.headers["location"] == f"{first.base_url}{master}"

        variants, _ = parse_master_playlist(own.text)
        media = f"/live/{stream['id']}/{variants[0].uri}"
        for node in (second, third):
            parts = follow_parts(node.base_url, media, 4)
            assert all(parts) and len(set(parts)) == 4  # four different parts, each with bytes
        for node in (second, third):
            decoded = ffmpeg_read(f"{node.base_url}{master}", seconds=3)
            assert len(decoded.times) > 25 and decoded.monotonic, decoded.log

        shot = f"/live/{stream['id']}/screenshot.jpg"
        wait_for(lambda: fetch_ok(httpx, f"{first.base_url}{shot}"), what="a screenshot")
        assert httpx.get(f"{second.base_url}{shot}").content == httpx.get(f"{first.base_url}{shot}").content
    finally:
        publisher.kill()
        publisher.wait()
    # once node 1 has let go, nobody runs it: node 2 answers for itself
    wait_for(lambda: httpx.get(f"{second.base_url}{master}").status_code == 404, what="node 2 to answer 404")


def served_msn(node: Node, playlist: str) -> int:
    """The newest complete segment of `playlist` as `node` serves it (-1: none, or an error)."""
    response = httpx.get(f"{node.base_url}{playlist}")
    segments = parse_media_playlist(response.text).segments if response.status_code == 200 else []
    return segments[-1].msn if segments else -1


def test_main_and_backup_on_two_nodes_and_the_mains_node_dies(cluster):
    """Main on node 3, backup on node 1 (on standby: no worker, it observes). SIGKILL node 3
    and its worker: node 1 takes the stream's lease once it expires and its output goes on
    from the backup, numbered past everything node 3 served, after a discontinuity."""
    url, (first, _, third) = cluster
    created = httpx.post(f"{first.base_url}/streaming/streams", json={"name": "two nodes"}, headers=first.headers)
    stream = created.json()
    playlist = f"/live/{stream['id']}/origin/index.m3u8"
    main = ffmpeg_publish(rtmp_url(third, stream), seconds=90)
    backup = None
    try:
        wait_for(lambda: served_msn(third, playlist) >= 2, timeout=40, what="node 3 live")
        backup = ffmpeg_publish(rtmp_url(first, stream).replace("/in/", "/backup/"), seconds=90)
        wait_for(lambda: "backup publisher on standby here" in first.log(), what="the backup on standby")
        assert lease_holder(url, stream["id"]) == "node-3"
        assert first.worker_pid(stream["id"]) is None  # standby: node 3 runs the output
        worker = third.worker_pid(stream["id"])
        last_seen = served_msn(third, playlist)
        third.process.kill()
        os.kill(worker, signal.SIGKILL)

        wait_for(lambda: first.worker_pid(stream["id"]), timeout=40, what="node 1 to take over")
        assert lease_holder(url, stream["id"]) == "node-1"
        wait_for(lambda: served_msn(first, playlist) >= 0, timeout=30, what="node 1's own playlist")
        served = httpx.get(f"{first.base_url}{playlist}").text
        segments = parse_media_playlist(served).segments
        assert segments[0].msn > last_seen, (last_seen, served)
        assert segments[0].discontinuity and "#EXT-X-DISCONTINUITY-SEQUENCE:" in served
        assert backup.poll() is None  # the backup publisher was never dropped
    finally:
        for publisher in (main, backup):
            if publisher is not None:
                publisher.kill()
                publisher.wait()


def lease_holder(url: str, stream_id: int) -> str | None:
    rows = sql(url, f"SELECT node_id FROM leases WHERE key = 'stream/{stream_id}' AND expires_at >= now()")
    return rows[0][0] if rows else None


def test_a_dead_nodes_pull_stream_moves_to_another_node_and_numbering_goes_on(cluster, tmp_path):
    """SIGKILL the node that pulls a stream (and its worker): the other node adopts the stream
    once its lease expires (HEADWATER_LEASE_TTL=3 here), resumes from the point the dead node
    stored, and its media sequence numbers go on past every one the dead node served, after
    a discontinuity. (Node 3 is gone: the stream is pulled by node 1 or node 2, never both.)"""
    url, nodes = cluster
    alive = nodes[:2]
    with HttpDirectory(tmp_path) as web:
        source = hls_writer(tmp_path, seconds=90)
        try:
            wait_for(lambda: (tmp_path / "index.m3u8").exists(), what="the HLS source")
            created = httpx.post(
                f"{alive[1].base_url}/streaming/streams",
                json={"name": "pulled", "pull": True, "uri": web.url("index.m3u8")},
                headers=alive[1].headers,
            )
            stream_id = created.json()["id"]
            playlist = f"/live/{stream_id}/origin/index.m3u8"
            puller = wait_for(lambda: next((n for n in alive if n.worker_pid(stream_id)), None), what="a puller")
            wait_for(lambda: served_msn(puller, playlist) >= 3, timeout=40, what="the pull to play")
            assert lease_holder(url, stream_id) == puller.env["HEADWATER_NODE_ID"]
            assert [n for n in alive if n.worker_pid(stream_id)] == [puller]  # one node pulls
            worker = puller.worker_pid(stream_id)
            last_seen = served_msn(puller, playlist)
            puller.process.kill()
            os.kill(worker, signal.SIGKILL)

            heir = next(n for n in alive if n is not puller)
            wait_for(lambda: heir.worker_pid(stream_id), timeout=40, what="the other node to adopt the pull")
            assert lease_holder(url, stream_id) == heir.env["HEADWATER_NODE_ID"]
            wait_for(lambda: served_msn(heir, playlist) >= 0, timeout=30, what="the heir's playlist")
            served = httpx.get(f"{heir.base_url}{playlist}").text
            segments = parse_media_playlist(served).segments
            assert segments[0].msn > last_seen, (last_seen, served)
            assert segments[0].discontinuity and "#EXT-X-DISCONTINUITY-SEQUENCE:" in served
        finally:
            source.kill()
            source.wait()
