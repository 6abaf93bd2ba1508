"""A node that goes down hard (power cut, OOM kill) and starts again numbers its streams on:
players and a CDN in front hold the lost run's URLs, served `immutable` for a day, so the new
run must name none of them again (server/media/succession.py stores the resume point)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx

from tests.e2e.restart_check import Snapshot, check_continues, wait_for_segments
from tests.support.node import Node
from tests.support.publisher import ffmpeg_publish


def kill_tree(pid: int) -> None:
    """SIGKILL the node, then the workers it started (before it could restart them)."""
    children = [
        int(child) for task in Path(f"/proc/{pid}/task").iterdir() for child in (task / "children").read_text().split()
    ]
    os.kill(pid, signal.SIGKILL)
    for child in children:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_node_killed_and_started_again_numbers_its_streams_on(tmp_path):
    node = Node(tmp_path / "node").start()
    publisher = None
    try:
        with httpx.Client(base_url=node.base_url, headers=node.headers, timeout=15) as http:
            stream = http.post("/streaming/streams", json={"name": "restart"}).json()
            publisher = ffmpeg_publish(stream["push_url"], seconds=60)
            wait_for_segments(http, stream["id"])
            before = Snapshot.read(http, stream["id"])
            kill_tree(node.process.pid)
            node.process.wait()
            publisher.wait(timeout=10)  # the encoder lost its connection
            node.start()
            assert http.get(f"/live/{stream['id']}/master.m3u8").status_code == 404  # nothing live yet
            publisher = ffmpeg_publish(stream["push_url"], seconds=60)
            wait_for_segments(http, stream["id"], after=before)
            check_continues(http, stream["id"], before, exact=False)
    finally:
        if publisher is not None:
            publisher.kill()
            publisher.wait()
        node.stop()
    assert "Traceback" not in node.log()
