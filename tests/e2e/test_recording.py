"""Recordings end to end (issue 20): a real node, ffmpeg publishing frames that tell their
number, videos read through the API and decoded from the recording's files.

The node records with a short grace (4 s) and splits every 4 s, so one publish of a few
seconds shows the split, the grace and the frames at every seam."""

from __future__ import annotations

import os
import signal
import sqlite3
import time

import httpx
import pytest

from tests.e2e.conftest import wait_for
from tests.e2e.recording_check import jumps, numbered_publish, played_frames, recorded_frames
from tests.e2e.test_node_restart import kill_tree
from tests.support.hls import parse_media_playlist
from tests.support.node import Node
from tests.support.quality_sets import add_live_quality_set

GRACE = 4.0
SPLIT = 4.0


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    env = {"HEADWATER_RECORDING_GRACE": str(GRACE), "HEADWATER_RECORDING_SPLIT": str(SPLIT)}
    node = Node(tmp_path_factory.mktemp("recording-node"), env=env).start()
    yield node
    node.stop()


@pytest.fixture
def http(node):
    with httpx.Client(base_url=node.base_url, headers=node.headers, timeout=15) as client:
        yield client


def new_stream(http, **fields) -> dict:
    response = http.post("/streaming/streams", json={"name": "rec", **fields})
    assert response.status_code == 201, response.text
    return response.json()


def videos(http, stream_id: int) -> list[dict]:
    """The stream's videos, oldest first."""
    return sorted(http.get("/streaming/videos", params={"stream_id": stream_id}).json(), key=lambda v: v["id"])


def settled(http, stream_id: int, count: int, timeout: float = 40) -> list[dict]:
    """The stream's videos (at least `count`) once it records no more and none is pending."""

    def check():
        if http.get(f"/streaming/streams/{stream_id}").json()["recording_duration"] is not None:
            return None  # recording, or waiting through the grace
        found = videos(http, stream_id)
        return found if len(found) >= count and all(v["status"] != "pending" for v in found) else None

    return wait_for(check, timeout=timeout, what=f"{count} finalized videos")


def recording_dir(node: Node, video_id: int):
    with sqlite3.connect(node.database_url.removeprefix("sqlite:///")) as db:
        (key,) = db.execute("SELECT recording_key FROM videos WHERE id = ?", (video_id,)).fetchone()
    return node.data_dir / "recordings" / key


def picture(video: dict) -> tuple[int, int]:
    origin = video["converted_videos"][0]
    return origin["width"], origin["height"]


def finish(publisher) -> None:
    assert publisher.wait(timeout=60) == 0, publisher.stderr.read().decode(errors="replace")


def test_auto_record_splits_and_a_publisher_back_within_the_grace_continues(node, http):
    """6 s, a drop of half the grace, 4 s more: one recording, split every 4 s into
    consecutive videos whose frames join with none lost or repeated; the reconnection is the
    one place the numbering starts over. Deleting the stream keeps its videos."""
    stream = new_stream(http, auto_record=True)
    sid = stream["id"]
    first = numbered_publish(stream["push_url"], seconds=6)
    wait_for(lambda: (http.get(f"/streaming/streams/{sid}").json()["recording_duration"] or 0) > 0, what="recording")
    finish(first)
    time.sleep(GRACE / 2)
    finish(numbered_publish(stream["push_url"], seconds=4))
    found = settled(http, sid, 3)
    assert len(found) == 3, found  # 4 s, 4 s, the rest: no new video at the reconnection
    assert all(v["status"] == "ready" for v in found)
    assert [v["stream_id"] for v in found] == [sid] * 3
    assert all(v["record_type"] == "origin" and picture(v) == (160, 120) for v in found)
    assert found[0]["duration"] >= SPLIT * 1000 and found[1]["duration"] >= SPLIT * 1000
    assert abs(sum(v["duration"] for v in found) - 10000) <= 1000  # what was pushed, within 1 s
    assert http.get(f"/streaming/streams/{sid}").json()["recording_duration"] is None

    numbers = [n for v in found for _, n in recorded_frames(recording_dir(node, v["id"]))]
    assert len(jumps(numbers)) == 1  # the second publisher starts its count again; no other seam shows
    assert numbers[0] == 0  # the recording starts with the stream
    # as the video library plays them: each video's MP4 holds exactly its recorded frames
    played = [n for v in found for _, n in played_frames(v["origin_url"])]
    assert played == numbers
    single_run = next(v for v in found if len(jumps([n for _, n in played_frames(v["origin_url"])])) == 0)
    assert [n for _, n in played_frames(single_run["hls_cmaf_url"])] == [
        n for _, n in recorded_frames(recording_dir(node, single_run["id"]))
    ]

    assert http.delete(f"/streaming/streams/{sid}").status_code == 204
    for video in found:
        kept = http.get(f"/streaming/videos/{video['id']}")
        assert kept.status_code == 200 and kept.json()["status"] == "ready"
        assert kept.json()["stream_id"] == sid  # the stream it was recorded from, as Gcore keeps it


def test_a_publisher_back_after_twice_the_grace_makes_a_second_video(node, http):
    stream = new_stream(http, auto_record=True)
    sid = stream["id"]
    finish(numbered_publish(stream["push_url"], seconds=2.5))
    settled(http, sid, 1)  # finalized once the grace is over
    time.sleep(GRACE)  # now twice the grace since the publisher left
    finish(numbered_publish(stream["push_url"], seconds=2.5))
    found = settled(http, sid, 2)
    assert len(found) == 2 and all(v["status"] == "ready" for v in found)
    for video in found:
        numbers = [n for _, n in recorded_frames(recording_dir(node, video["id"]))]
        assert numbers[0] == 0 and jumps(numbers) == []


def test_a_crashed_worker_s_successor_continues_the_recording(node, http):
    """The worker killed mid-recording: the next one (at the publisher's next keyframe)
    continues the same recording; only what the crash took is missing."""
    stream = new_stream(http, auto_record=True)
    sid = stream["id"]
    publisher = numbered_publish(stream["push_url"], seconds=7)
    wait_for(lambda: (http.get(f"/streaming/streams/{sid}").json()["recording_duration"] or 0) >= 2, what="2 s")
    os.kill(node.worker_pid(sid), signal.SIGKILL)
    finish(publisher)
    found = settled(http, sid, 1)
    assert all(v["status"] == "ready" for v in found)
    numbers = [n for v in found for _, n in recorded_frames(recording_dir(node, v["id"]))]
    assert len(jumps(numbers)) == 1  # the frames between the crash and the next keyframe
    assert numbers[0] == 0


def test_start_and_stop_recording_by_hand(node, http):
    stream = new_stream(http)
    sid = stream["id"]
    publisher = numbered_publish(stream["push_url"], seconds=9)
    try:
        wait_for(lambda: http.get(f"/streaming/streams/{sid}").json()["live"], what="live")
        time.sleep(2)
        started = http.put(f"/streaming/streams/{sid}/start_recording")
        assert started.status_code == 200 and started.json()["data"]["stream"]["id"] == sid
        wait_for(
            lambda: (http.get(f"/streaming/streams/{sid}").json()["recording_duration"] or 0) >= 2,
            what="2 s recorded",
        )
        stopped = http.put(f"/streaming/streams/{sid}/stop_recording").json()
        assert stopped["stream_id"] == sid and stopped["status"] == "pending"
        wait_for(lambda: http.get(f"/streaming/streams/{sid}").json()["recording_duration"] is None, what="null")
        assert http.put(f"/streaming/streams/{sid}/stop_recording").json() == {}  # nothing records now
    finally:
        finish(publisher)
    (video,) = settled(http, sid, 1)
    assert video["id"] == stopped["id"] and video["status"] == "ready"
    # from a keyframe after the start to the end of the segment being written at the stop (2 s segments)
    assert 2000 <= video["duration"] <= 4500
    frames = recorded_frames(recording_dir(node, video["id"]))
    assert frames[0][1] % 25 == 0  # from a keyframe (GOP 25)
    assert jumps([n for _, n in frames]) == []
    assert len(frames) == pytest.approx(video["duration"] / 40, abs=2)


def test_transcoded_records_the_top_rendition(node, http):
    quality_set = add_live_quality_set(node, "rec-small", [("q96", 128, 96, 150), ("q64", 86, 64, 100)])
    stream = new_stream(http, auto_record=True, record_type="transcoded", quality_set_id=quality_set)
    finish(numbered_publish(stream["push_url"], seconds=3))
    (video,) = settled(http, stream["id"], 1)
    assert video["status"] == "ready" and video["record_type"] == "transcoded"
    assert picture(video) == (128, 96)
    frames = recorded_frames(recording_dir(node, video["id"]))
    assert jumps([n for _, n in frames]) == []


def test_a_node_killed_mid_recording_finalizes_it_when_it_starts_again(tmp_path):
    node = Node(tmp_path / "node").start()
    publisher = None
    try:
        with httpx.Client(base_url=node.base_url, headers=node.headers, timeout=15) as http:
            stream = new_stream(http, auto_record=True)
            sid = stream["id"]
            publisher = numbered_publish(stream["push_url"], seconds=30)
            recorded = wait_for(
                lambda: (d := http.get(f"/streaming/streams/{sid}").json()["recording_duration"]) and d >= 4 and d,
                timeout=30,
                what="4 s recorded",
            )
            live = wait_for(  # killed 1.5 s into a segment: its parts are on disk, the segment not complete
                lambda: (
                    (p := parse_media_playlist(http.get(f"/live/{sid}/origin/index.m3u8").text))
                    and sum(part.duration for part in p.pending_parts) >= 1.4
                    and p
                ),
                timeout=30,
                what="a segment 1.5 s along",
            )
            kill_tree(node.process.pid)
            node.process.wait()
            publisher.kill()
            node.start()
            (video,) = settled(http, sid, 1)
        assert video["status"] == "ready"
        # the live window still lists the whole broadcast (16 s): what was packaged just before the kill
        assert live.media_sequence == 0
        packaged = sum(s.duration for s in live.segments) + sum(p.duration for p in live.pending_parts)
        # the opened segment's parts were recovered: no more than a part or two is missing (a
        # SIGKILL leaves what was written in the page cache; the 1 s syncs are for power cuts)
        assert video["duration"] >= max(recorded, packaged - 1) * 1000
        frames = recorded_frames(recording_dir(node, video["id"]))
        assert frames[0][1] == 0 and jumps([n for _, n in frames]) == []
    finally:
        if publisher is not None:
            publisher.kill()
        node.stop()
