"""Bad publishers and broken input: refused or dropped, logged, and nothing else disturbed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

import httpx

from tests.e2e.conftest import fetch_ok, last_msn, wait_for
from tests.e2e.restart_check import LLHLS, TS, Snapshot, check_continues, mpd_periods, newest
from tests.support.node import Node
from tests.support.publisher import ffmpeg_publish


def rtmp_url(node, stream_id, token: str, app: str = "in") -> str:
    return f"rtmp://127.0.0.1:{node.rtmp_port}/{app}/{stream_id}?{token}"


def refused(publisher: subprocess.Popen) -> bool:
    try:
        return publisher.wait(timeout=20) != 0
    finally:
        publisher.kill()


def test_wrong_token_refused_and_logged_without_the_token(media_node, new_stream):
    stream = new_stream()
    bad_token = "f" * 32
    assert refused(ffmpeg_publish(rtmp_url(media_node, stream["id"], bad_token), seconds=3))
    wait_for(lambda: f"wrong token for stream {stream['id']}" in media_node.log(), what="log line")
    assert bad_token not in media_node.log() and stream["token"] not in media_node.log()


def test_unknown_stream_and_unknown_app_refused(media_node, new_stream):
    stream = new_stream()
    assert refused(ffmpeg_publish(rtmp_url(media_node, 987654, stream["token"]), seconds=3))
    assert refused(ffmpeg_publish(rtmp_url(media_node, stream["id"], stream["token"], app="nope"), seconds=3))
    wait_for(lambda: "unknown stream 987654" in media_node.log(), what="log line")


def test_a_name_int_refuses_is_an_unknown_stream(media_node, new_stream):
    """A name `int` refuses ("²" passes `str.isdigit`) failed the check with an internal error."""
    stream = new_stream()
    assert refused(ffmpeg_publish(rtmp_url(media_node, "²", stream["token"]), seconds=3))
    wait_for(lambda: "publish refused app=in name=²: unknown stream" in media_node.log(), what="log line")
    assert "authorization failed" not in media_node.log()


def test_inactive_stream_refused(media_node, new_stream):
    stream = new_stream(active=False)
    assert refused(ffmpeg_publish(stream["push_url"], seconds=3))
    wait_for(lambda: f"stream {stream['id']} is not active" in media_node.log(), what="log line")


def test_second_publisher_refused_first_keeps_going(media_node, http, live_stream):
    before = last_msn(http, live_stream["id"])
    assert refused(ffmpeg_publish(live_stream["push_url"], seconds=3))
    assert f"stream {live_stream['id']} already has a main publisher" in media_node.log()
    wait_for(lambda: last_msn(http, live_stream["id"]) >= before + 2, what="first publisher to go on")


def test_garbage_on_the_rtmp_port_leaves_the_node_running(media_node, http, live_stream):
    before = last_msn(http, live_stream["id"])
    for payload in (os.urandom(4096), b"\x03" + os.urandom(700), b"\x03", b"\x06" + os.urandom(1536)):
        with socket.create_connection(("127.0.0.1", media_node.rtmp_port), timeout=5) as sock:
            sock.sendall(payload)
            sock.settimeout(5)
            try:
                while sock.recv(65536):
                    pass
            except (TimeoutError, ConnectionError):
                pass
    half_open = socket.create_connection(("127.0.0.1", media_node.rtmp_port))
    half_open.sendall(b"\x03" + b"\x00" * 100)  # truncated handshake, then silence
    try:
        assert httpx.get(f"{media_node.base_url}/health").status_code == 200
        wait_for(lambda: last_msn(http, live_stream["id"]) >= before + 2, what="stream to go on")
        other = http.post("/streaming/streams", json={"name": "after garbage"}).json()
        publisher = ffmpeg_publish(other["push_url"], seconds=4)
        wait_for(lambda: fetch_ok(http, f"/live/{other['id']}/master.m3u8"), what="new publisher")
        publisher.wait(timeout=30)
    finally:
        half_open.close()


def test_crashed_worker_is_restarted_while_publisher_stays(media_node, http, live_stream):
    """The new worker lists the old window on, then its own outputs: numbers rise after a
    counted discontinuity, no URL names other bytes, the new media decode (see restart_check)."""
    stream_id = live_stream["id"]
    pid = wait_for(lambda: media_node.worker_pid(stream_id), what="worker process")
    wait_for(
        lambda: (
            newest(http, stream_id, LLHLS) >= 1 and newest(http, stream_id, TS) >= 0 and mpd_periods(http, stream_id)
        ),
        what="segments in every format",
    )
    before = Snapshot.read(http, stream_id)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: (p := media_node.worker_pid(stream_id)) and p != pid, what="a new worker")
    wait_for(
        lambda: (
            newest(http, stream_id, LLHLS) > before.last_msn
            and newest(http, stream_id, TS) > before.last_ts
            and mpd_periods(http, stream_id) - {"0"}
        ),
        what="new segments in every format",
    )
    check_continues(http, stream_id, before, carried=True)
    wait_for(lambda: http.get(f"/streaming/streams/{stream_id}").json()["live"], what="live again")
    assert "restarting at the next keyframe" in media_node.log()


def test_a_passthrough_worker_runs_on_two_threads(media_node, live_stream):
    """Its packaging thread and its file thread; numpy's OpenBLAS pool is kept from starting
    (its threads spin through a fifth of a worker's start-up CPU), and glibc to two malloc
    arenas (a transcoding worker's grew for ever with one per thread)."""
    pid = wait_for(lambda: media_node.worker_pid(live_stream["id"]), what="worker process")
    environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert b"OPENBLAS_NUM_THREADS=1" in environment and b"MALLOC_ARENA_MAX=2" in environment
    assert len(os.listdir(f"/proc/{pid}/task")) <= 2


def test_deactivating_a_live_stream_drops_its_publisher(media_node, http, new_stream):
    stream = new_stream()
    publisher = ffmpeg_publish(stream["push_url"], seconds=60)
    try:
        wait_for(lambda: fetch_ok(http, f"/live/{stream['id']}/master.m3u8"), what="playlist")
        http.patch(f"/streaming/streams/{stream['id']}", json={"stream": {"active": False}})
        assert publisher.wait(timeout=20) is not None
        wait_for(lambda: http.get(f"/streaming/streams/{stream['id']}").json()["live"] is False, what="live=false")
    finally:
        publisher.kill()


def test_worker_stopped_idle_is_started_again_where_it_stopped(tmp_path):
    """A publisher that stays connected but sends nothing for `publish_idle_timeout` has its
    worker stopped (playlists end); when its data comes back the new worker's outputs go on
    from the old numbers, as after a crash."""
    node = Node(tmp_path / "node", env={"HEADWATER_PUBLISH_IDLE_TIMEOUT": "2"}).start()
    publisher = None
    try:
        with httpx.Client(base_url=node.base_url, headers=node.headers, timeout=15) as http:
            stream = http.post("/streaming/streams", json={"name": "idle"}).json()
            stream_id = stream["id"]
            publisher = ffmpeg_publish(stream["push_url"], seconds=60)
            wait_for(
                lambda: (
                    newest(http, stream_id, LLHLS) >= 1
                    and newest(http, stream_id, TS) >= 0
                    and mpd_periods(http, stream_id)
                ),
                what="segments in every format",
            )
            publisher.send_signal(signal.SIGSTOP)  # connected, silent
            wait_for(
                lambda: "#EXT-X-ENDLIST" in http.get(f"/live/{stream_id}/{LLHLS}").text,
                what="the idle stop's final playlist",
            )
            before = Snapshot.read(http, stream_id)
            publisher.send_signal(signal.SIGCONT)
            wait_for(
                lambda: (
                    newest(http, stream_id, LLHLS) > before.last_msn
                    and newest(http, stream_id, TS) > before.last_ts
                    and mpd_periods(http, stream_id) - {"0"}
                ),
                what="new segments in every format",
            )
            check_continues(http, stream_id, before)
            assert "stopping its worker" in node.log()
    finally:
        if publisher is not None:
            publisher.send_signal(signal.SIGCONT)
            publisher.kill()
            publisher.wait()
        node.stop()
