"""Videos on object storage across nodes: two nodes on one PostgreSQL and one S3 server
(SeaweedFS); a recording made on node 1 is uploaded when finalized, leaves node 1's disk and
plays from node 2, which reads it from the bucket (MP4, HLS, a ranged segment)."""

from __future__ import annotations

import secrets
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
import httpx
import pytest

from tests.e2e.conftest import wait_for
from tests.e2e.recording_check import jumps, numbered_publish, played_frames
from tests.support.hls import parse_master_playlist, parse_media_playlist
from tests.support.node import Node
from tests.support.seaweedfs import s3_env


@pytest.fixture(scope="module")
def nodes(postgres_server, s3_server, tmp_path_factory):
    url = postgres_server.create_database()
    bucket = f"videos-{uuid.uuid4().hex[:8]}"
    env = {
        "HEADWATER_API_KEY": secrets.token_urlsafe(24),
        "HEADWATER_RECORDING_GRACE": "1",
        **s3_env(s3_server, bucket),
    }
    started = [
        Node(tmp_path_factory.mktemp(f"node-{n}"), database_url=url, env={**env, "HEADWATER_NODE_ID": f"node-{n}"})
        for n in (1, 2)
    ]
    for node in started:
        node.api_key = env["HEADWATER_API_KEY"]
    try:
        with ThreadPoolExecutor(len(started)) as starting:
            list(starting.map(lambda node: node.start(timeout=120), started))
        yield bucket, started
    finally:
        for node in started:
            node.stop()


def bucket_names(s3_server, bucket: str) -> list[str]:
    client = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key=s3_server.secret_key,
    )
    return [item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_a_recording_made_on_node_1_plays_from_node_2_out_of_the_bucket(nodes, s3_server):
    bucket, (one, two) = nodes
    api = {node: httpx.Client(base_url=node.base_url, headers=node.headers, timeout=15) for node in (one, two)}
    stream = api[one].post("/streaming/streams", json={"name": "stored", "auto_record": True}).json()
    publisher = numbered_publish(stream["push_url"], seconds=4)
    assert publisher.wait(timeout=60) == 0, publisher.stderr.read().decode(errors="replace")

    def ready() -> dict | None:
        found = api[two].get("/streaming/videos", params={"stream_id": stream["id"]}).json()
        return found[0] if found and found[0]["status"] == "ready" else None

    video = wait_for(ready, timeout=40, what="the video ready")
    assert video["origin_url"].startswith(two.base_url)  # node 2 hands out its own URLs

    stored = bucket_names(s3_server, bucket)
    assert any(name.endswith("/index.jsonl") for name in stored) and any(name.endswith(".m4s") for name in stored)
    key = stored[0].split("/")[1]
    assert not (one.data_dir / "recordings" / key).exists()  # uploaded, then off node 1's disk
    assert not list((two.data_dir / "recordings").glob("*"))  # node 2 never had it

    numbers = [n for _, n in played_frames(video["origin_url"])]  # the MP4, from node 2
    assert len(numbers) >= 75 and jumps(numbers) == []  # 4 s at 25 fps, less the first GOP at most
    master = httpx.get(video["hls_cmaf_url"], timeout=15)
    assert master.status_code == 200
    base = video["hls_cmaf_url"].rsplit("/", 1)[0]
    playlist = parse_media_playlist(httpx.get(f"{base}/{parse_master_playlist(master.text)[0][0].uri}").text)
    segment_url = f"{base}/{playlist.segments[1].uri}"
    whole = httpx.get(segment_url, timeout=15)
    part = httpx.get(segment_url, headers={"Range": "bytes=100-199"}, timeout=15)
    assert whole.status_code == 200 and part.status_code == 206 and part.content == whole.content[100:200]
    assert (two.data_dir / "object-cache" / key).is_dir()

    assert api[one].delete(f"/streaming/videos/{video['id']}").status_code == 204
    assert not [name for name in bucket_names(s3_server, bucket) if name.split("/")[1] == key]
    # node 2 kept the video in memory: it asks the database again within seconds
    wait_for(lambda: httpx.get(segment_url, timeout=15).status_code == 404, timeout=20, what="a 404 on node 2")
    for node in (one, two):
        assert s3_server.secret_key not in node.log()  # never logged (and given by the environment, not argv)
