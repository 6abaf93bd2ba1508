"""Restreams end to end: ffmpeg publishes to a real node, which forwards the origin to ffmpeg
receivers listening on RTMP and SRT (what a platform's ingest would be). The received files
decode; `no_audio` leaves no audio stream; a receiver killed mid-stream makes that restream's
`live` false (the SDK's get) while the stream and the other targets play on, and the target
is connected again once it is back (the retry); deactivated while live, it stops at once."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest
from gcore import Gcore

from tests.e2e.conftest import last_msn, node_database_url, wait_for
from tests.support.node import Node
from tests.support.ports import free_port
from tests.support.publisher import ffmpeg_publish

SECONDS = 60  # ended by the test once it has seen what it looks for
STREAM_KEY = "secret-key-e2e"


@pytest.fixture(scope="module")
def media_node(request, tmp_path_factory):
    """A node with RTMPS ingest too, whose workers trust its self-signed certificate
    (`SSL_CERT_FILE`): the RTMPS test restreams into it."""
    directory = tmp_path_factory.mktemp("restream-node")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    env = {"HEADWATER_RTMPS_CERT_FILE": str(cert), "HEADWATER_RTMPS_KEY_FILE": str(key), "SSL_CERT_FILE": str(cert)}
    node = Node(directory / "node", database_url=node_database_url(request), env=env).start()
    yield node
    node.stop()


def rtmp_receiver(port: int, out: Path) -> subprocess.Popen:
    url = f"rtmp://127.0.0.1:{port}/live/{STREAM_KEY}"
    return _receiver(["-listen", "1", "-i", url], out)


def srt_receiver(port: int, out: Path) -> subprocess.Popen:
    return _receiver(["-i", f"srt://127.0.0.1:{port}?mode=listener"], out)


def _receiver(source: list[str], out: Path) -> subprocess.Popen:
    command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *source, "-c", "copy", str(out)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def probe(path: Path) -> dict:
    done = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name:format=duration",
            "-of",
            "json",
            path,
        ],
        capture_output=True,
        check=True,
    )
    return json.loads(done.stdout)


def test_restreams_forward_the_origin_and_survive_a_dead_target(media_node, http, new_stream, tmp_path):
    client = Gcore(api_key=media_node.api_key, base_url=media_node.base_url, max_retries=0)
    stream = new_stream()
    ports = {"rtmp": free_port(), "dying": free_port(), "srt": free_port(socket.SOCK_DGRAM)}
    receivers = {
        "rtmp": rtmp_receiver(ports["rtmp"], tmp_path / "rtmp.flv"),
        "dying": rtmp_receiver(ports["dying"], tmp_path / "dying.flv"),
        "srt": srt_receiver(ports["srt"], tmp_path / "srt.ts"),
    }
    restreams = client.streaming.restreams
    created = {
        "rtmp": restreams.create(
            restream={
                "stream_id": stream["id"],
                "uri": f"rtmp://127.0.0.1:{ports['rtmp']}/live/{STREAM_KEY}",
                "no_audio": True,
            }
        ),
        "dying": restreams.create(
            restream={"stream_id": stream["id"], "uri": f"rtmp://127.0.0.1:{ports['dying']}/live/{STREAM_KEY}"}
        ),
        "srt": restreams.create(restream={"stream_id": stream["id"], "uri": f"srt://127.0.0.1:{ports['srt']}"}),
    }
    publisher = ffmpeg_publish(stream["push_url"], seconds=SECONDS)
    try:
        for name, restream in created.items():
            wait_for(lambda r=restream: restreams.get(r.id).live, timeout=30, what=f"{name} restream live")
        all_live = last_msn(http, stream["id"])

        receivers["dying"].kill()
        receivers["dying"].wait()
        wait_for(lambda: not restreams.get(created["dying"].id).live, timeout=20, what="the dead target's live false")
        msn = last_msn(http, stream["id"])
        wait_for(lambda: last_msn(http, stream["id"]) > msn, timeout=15, what="the playlist going on")
        assert restreams.get(created["srt"].id).live and restreams.get(created["rtmp"].id).live

        receivers["dying"] = rtmp_receiver(ports["dying"], tmp_path / "back.flv")  # the target is back
        wait_for(lambda: restreams.get(created["dying"].id).live, timeout=20, what="the target connected again")

        restreams.update(created["dying"].id, restream={"active": False})  # while live: it stops at once
        wait_for(lambda: not restreams.get(created["dying"].id).live, what="the deactivated restream off")
        receivers["dying"].wait(timeout=20)  # its publish ended: the receiver is done
        # The steps above can take only a few seconds; the live targets get 3 segments at least.
        wait_for(lambda: last_msn(http, stream["id"]) >= all_live + 3, timeout=20, what="three segments restreamed")
    finally:
        publisher.terminate()  # the stream ends: every connection with it
        publisher.wait(timeout=30)
        for receiver in receivers.values():
            try:
                receiver.wait(timeout=30)  # the stream's end ends each connection
            except subprocess.TimeoutExpired:
                receiver.kill()

    for name in ("rtmp", "srt"):
        info = probe(tmp_path / ("rtmp.flv" if name == "rtmp" else "srt.ts"))
        kinds = {s["codec_type"]: s["codec_name"] for s in info["streams"]}
        assert kinds["video"] == "h264", (name, info)
        assert float(info["format"]["duration"]) > 2, (name, info)  # a few GOPs at least, however fast the test ran
    assert "audio" not in {s["codec_type"] for s in probe(tmp_path / "rtmp.flv")["streams"]}  # no_audio
    assert {s["codec_type"] for s in probe(tmp_path / "srt.ts")["streams"]} == {"video", "audio"}
    wait_for(lambda: not any(restreams.get(r.id).live for r in created.values()), what="every restream off")
    assert STREAM_KEY not in media_node.log()  # the key is in no log line


def test_a_restream_over_rtmps_publishes_into_a_node(media_node):
    """Our RTMP client over TLS, with the certificate checked, against a real RTMPS ingest
    (Headwater's own: ffmpeg cannot listen on rtmps): one stream restreamed into another of the
    same node goes live there. The stream key carries a query (`<id>?<token>`)."""
    client = Gcore(api_key=media_node.api_key, base_url=media_node.base_url, max_retries=0)
    source = client.streaming.streams.create(name="source")
    target = client.streaming.streams.create(name="target")
    rtmps = f"rtmps://127.0.0.1:{media_node.rtmps_port}/in/{target.id}?{target.token}"
    restream = client.streaming.restreams.create(restream={"stream_id": source.id, "uri": rtmps})
    publisher = ffmpeg_publish(source.push_url, seconds=30)
    try:
        wait_for(lambda: client.streaming.restreams.get(restream.id).live, timeout=30, what="restream live")
        wait_for(lambda: client.streaming.streams.get(target.id).live, timeout=30, what="the target stream live")
    finally:
        publisher.kill()
        publisher.wait()
    assert target.token not in media_node.log()
