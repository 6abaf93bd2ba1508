"""No secret on any command line: while a node pulls HLS with credentials (user, password and
a token in the query), pulls SRT with a passphrase, takes a WHIP publication and an RTMP push,
the command line of the node and of every process under it (`/proc/<pid>/cmdline`: workers,
and any helper they start) shows none of the credentials, the passphrase, the WHIP offer nor a
stream token. Anyone on the machine can read those (`ps`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import wait_for
from tests.support.node import Node
from tests.support.ports import free_port
from tests.support.publisher import ffmpeg_publish
from tests.support.sources import HttpDirectory, hls_writer, srt_listener
from tests.support.whip_client import WhipPublisher

USER, PASSWORD, QUERY_TOKEN = "puller", "pw-6f1c2a9e", "tk-93be07d4"
PASSPHRASE = "srt-phrase-5d0a77c1"
WEBHOOK_SECRET = "hook-secret-0b7e41d2"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    hooks = {  # the receiver is never up: its events wait in the outbox
        "HEADWATER_WEBHOOK_URL": f"http://127.0.0.1:{free_port()}/hooks",
        "HEADWATER_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    node = Node(tmp_path_factory.mktemp("secrets-node"), env={"HEADWATER_WHIP_ICE_LOOPBACK": "true", **hooks}).start()
    yield node
    node.stop()


def descendants(pid: int) -> list[int]:
    """`pid` and every process under it, through /proc/<pid>/task/*/children."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                queue += [int(child) for child in children.read_text().split()]
            except OSError:
                continue  # the task ended meanwhile
    return found


def command_lines(pid: int) -> dict[int, str]:
    """The command line of `pid` and its descendants, arguments joined by spaces."""
    lines = {}
    for process in descendants(pid):
        try:
            raw = Path(f"/proc/{process}/cmdline").read_bytes()
        except OSError:
            continue
        lines[process] = raw.replace(b"\0", b" ").decode(errors="replace")
    return lines


def live(api: httpx.Client, stream_id: int) -> dict | None:
    status = api.get(f"/streaming/streams/{stream_id}").json()
    return status if status["live"] else None


def test_no_secret_shows_on_a_command_line_while_every_kind_of_source_is_live(node, tmp_path):
    hls_dir = tmp_path / "hls"
    with (
        httpx.Client(base_url=node.base_url, headers=node.headers, timeout=30) as api,
        HttpDirectory(hls_dir, credentials=(USER, PASSWORD)) as web,
    ):
        hls = hls_writer(hls_dir, seconds=60)
        srt_url, srt = srt_listener(seconds=60, passphrase=PASSPHRASE)
        try:
            wait_for(lambda: (hls_dir / "index.m3u8").exists(), what="HLS source playlist")
            hls_url = web.url("index.m3u8").replace("http://", f"http://{USER}:{PASSWORD}@") + f"?token={QUERY_TOKEN}"
            streams = {
                "hls": api.post("/streaming/streams", json={"name": "hls", "pull": True, "uri": hls_url}).json(),
                "srt": api.post("/streaming/streams", json={"name": "srt", "pull": True, "uri": srt_url}).json(),
                "whip": api.post("/streaming/streams", json={"name": "whip"}).json(),
                "rtmp": api.post("/streaming/streams", json={"name": "rtmp"}).json(),
            }
            pusher = ffmpeg_publish(streams["rtmp"]["push_url"], seconds=60)
            offer, lines = asyncio.run(publish_whip_and_read(node, api, streams))
            pusher.kill()
            pusher.wait()
        finally:
            for process in (hls, srt):
                process.kill()
                process.wait()
    workers = [line for line in lines.values() if "transcode.worker" in line]
    assert len(workers) == len(streams), lines  # every stream's worker was seen, at once
    secrets = {
        "password": PASSWORD,
        "query token": QUERY_TOKEN,
        "passphrase": PASSPHRASE,
        "webhook secret": WEBHOOK_SECRET,
        **{f"{name} stream token": stream["token"] for name, stream in streams.items()},
        **offer_secrets(offer),
    }
    shown = {(name, pid) for name, secret in secrets.items() for pid, line in lines.items() if secret in line}
    assert not shown, {pid: lines[pid] for _, pid in shown}


async def publish_whip_and_read(node: Node, api: httpx.Client, streams: dict) -> tuple[str, dict[int, str]]:
    """Publish over WHIP; once every stream is live, the command lines under the node."""
    publisher = WhipPublisher(streams["whip"]["push_url_whip"], streams["whip"]["token"])
    response = await publisher.publish()
    assert response.status_code == 201, response.text
    try:
        for name, stream in streams.items():
            await asyncio.to_thread(
                wait_for, lambda stream_id=stream["id"]: live(api, stream_id), 40, 0.2, f"{name} live"
            )
        return publisher.pc.localDescription.sdp, command_lines(node.process.pid)
    finally:
        await publisher.stop()


def offer_secrets(offer: str) -> dict[str, str]:
    """What identifies the WHIP offer: its ICE password and DTLS fingerprint (the ICE user
    fragment is too short to tell apart from chance)."""
    found = {}
    for line in offer.splitlines():
        for attribute in ("a=ice-pwd:", "a=fingerprint:"):
            if line.startswith(attribute):
                found[f"offer {attribute[2:-1]}"] = line[len(attribute) :].strip()
    assert len(found) == 2, offer
    return found
