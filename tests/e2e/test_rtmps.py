"""RTMPS: the same push over TLS on the second port, when a certificate is configured."""

from __future__ import annotations

import subprocess

import httpx

from tests.e2e.conftest import fetch_ok, wait_for
from tests.support.node import Node
from tests.support.publisher import ffmpeg_publish


def self_signed(directory) -> tuple[str, str]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


def test_rtmps_push_plays_at_the_url_the_api_hands_out(tmp_path):
    cert, key = self_signed(tmp_path)
    node = Node(tmp_path / "node", env={"HEADWATER_RTMPS_CERT_FILE": cert, "HEADWATER_RTMPS_KEY_FILE": key})
    node.start()
    try:
        with httpx.Client(base_url=node.base_url, headers=node.headers, timeout=10) as http:
            stream = http.post("/streaming/streams", json={"name": "tls"}).json()
            rtmps = f"rtmps://127.0.0.1:{node.rtmps_port}"
            assert stream["push_url"] == f"{rtmps}/in/{stream['id']}?{stream['token']}"
            assert stream["backup_push_url"] == f"{rtmps}/backup/{stream['id']}?{stream['token']}"
            publisher = ffmpeg_publish(stream["push_url"], seconds=5, extra=["-tls_verify", "0"])
            wait_for(lambda: fetch_ok(http, f"/live/{stream['id']}/master.m3u8"), what="playlist over RTMPS")
            assert publisher.wait(timeout=30) == 0
            assert http.get(f"/streaming/streams/{stream['id']}").json()["stream_source_type"] in ("rtmp", None)

            # encoders without TLS still reach the plain listener (README: "URLs")
            plain = http.post("/streaming/streams", json={"name": "plain"}).json()
            publisher = ffmpeg_publish(
                f"rtmp://127.0.0.1:{node.rtmp_port}/in/{plain['id']}?{plain['token']}", seconds=5
            )
            wait_for(lambda: fetch_ok(http, f"/live/{plain['id']}/master.m3u8"), what="playlist over RTMP")
            assert publisher.wait(timeout=30) == 0
        assert "RTMPS ingest on" in node.log()
    finally:
        node.stop()
