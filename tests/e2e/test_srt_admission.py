"""SRT admission never pauses the streams that flow: libsrt's listen callback runs on the
receive thread every SRT stream shares, so it answers from the node's memory, even while the
database is stuck (PostgreSQL, a table lock held by the test). Before, each caller held that
thread up to 2 s waiting for the node's answer: the SRT streams stalled while callers knocked,
then caught up at once (no hole in their media), so the test compares their progress with an
RTMP stream's, which libsrt does not carry."""

from __future__ import annotations

import io
import subprocess
import threading

import av
import httpx
import psycopg
import pytest

from tests.e2e.conftest import last_msn, wait_for
from tests.support.hls import parse_media_playlist
from tests.support.node import Node
from tests.support.publisher import ffmpeg_publish

PASSPHRASE = "correct-horse-battery"
RATE = 25  # the publishers' frame rate
HOLE = 0.5  # seconds of media missing between two frames
ROUNDS = 3  # of 20 callers at once
MAX_LAG = 2  # segments an SRT stream may trail the RTMP reference by (cuts at keyframes, 2 s segments)


@pytest.fixture(scope="module")
def pg_node(postgres_server, tmp_path_factory):
    node = Node(tmp_path_factory.mktemp("srt-admission"), database_url=postgres_server.create_database()).start()
    yield node
    node.stop()


def srt_push(url: str, seconds: float) -> subprocess.Popen:
    return ffmpeg_publish(url, seconds=seconds, size="160x120", rate=RATE, container="mpegts")


def video_times(http: httpx.Client, stream_id: int) -> list[float]:
    """The presentation times of every video frame of the stream's origin playlist, in order."""
    playlist = parse_media_playlist(http.get(f"/live/{stream_id}/origin/index.m3u8").text)
    maps = {segment.map_uri for segment in playlist.segments}
    assert len(maps) == 1, f"the init segment changed: {maps}"
    data = http.get(f"/live/{stream_id}/origin/{maps.pop()}").content
    data += b"".join(http.get(f"/live/{stream_id}/origin/{s.uri}").content for s in playlist.segments)
    with av.open(io.BytesIO(data)) as container:
        video = container.streams.video[0]
        times = [float(p.pts * p.time_base) for p in container.demux(video) if p.pts is not None]
    return sorted(times)


def newest_msn(http: httpx.Client, stream_id: int) -> int:
    """The newest complete segment of the stream's origin playlist (-1 before any)."""
    response = http.get(f"/live/{stream_id}/origin/index.m3u8")
    return last_msn(http, stream_id) if response.status_code == 200 else -1


def assert_no_hole(times: list[float]) -> None:
    """A pause long enough to matter leaves a hole; a lone frame that missed SRT's 120 ms
    latency on this loaded machine is noise."""
    gaps = [(a, b) for a, b in zip(times, times[1:], strict=False) if b - a > HOLE]
    assert not gaps, f"holes in the media timeline: {gaps[:5]}"


class Lag:
    """How far, in segments, the SRT streams fall behind an RTMP stream of the same pace since
    the start: media time against media time (libsrt does not carry the RTMP stream)."""

    def __init__(self, http: httpx.Client, reference: int, streams: list[int]) -> None:
        self.http, self.reference, self.streams = http, reference, streams
        self.start = {s: newest_msn(http, s) for s in [reference, *streams]}
        self.worst = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def gained(self, stream_id: int) -> int:
        return newest_msn(self.http, stream_id) - self.start[stream_id]

    def _sample(self) -> None:
        while not self.done.wait(0.2):
            reference = self.gained(self.reference)
            self.worst = max(self.worst, *(reference - self.gained(s) for s in self.streams))

    def stop(self) -> int:
        self.done.set()
        self.thread.join()
        return self.worst


def test_twenty_callers_at_once_never_pause_the_flowing_streams(pg_node):
    node = pg_node
    with httpx.Client(base_url=node.base_url, headers=node.headers, timeout=15) as http:
        created = [http.post("/streaming/streams", json={"name": f"flow{i}"}).json() for i in range(4)]
        locked = http.post("/streaming/streams", json={"name": "locked", "srt_passphrase": PASSPHRASE}).json()
        reference, created = created[0], created[1:]
        flowing = [srt_push(stream["push_url_srt"], seconds=60) for stream in created]
        flowing.append(ffmpeg_publish(reference["push_url"], seconds=60, size="160x120", rate=RATE))
        try:
            for stream in [reference, *created]:
                wait_for(lambda s=stream: newest_msn(http, s["id"]) >= 1, timeout=40, what="two segments")
            callers = [f"srt://127.0.0.1:{node.srt_port}?streamid=in/987654/nothing"] * 5
            callers += [f"srt://127.0.0.1:{node.srt_port}?streamid=no-such-thing"] * 5
            callers += [locked["push_url_srt"] + "&passphrase=wrong-horse-battery&pbkeylen=16"] * 5
            callers += [stream["push_url_srt"] for stream in created for _ in range(2)] + [created[0]["push_url_srt"]]
            lag = Lag(http, reference["id"], [stream["id"] for stream in created])
            with psycopg.connect(node.database_url) as database:  # every query on streams waits
                database.execute("LOCK TABLE streams IN ACCESS EXCLUSIVE MODE")
                for _ in range(ROUNDS):
                    codes = [caller.wait(timeout=60) for caller in [srt_push(url, seconds=3) for url in callers]]
                    assert all(code != 0 for code in codes), "a bad caller got through"
                wait_for(lambda: lag.gained(reference["id"]) >= 3, what="the reference stream to go on")
                database.rollback()
            print(f"SRT streams' worst lag behind the RTMP reference: {lag.stop()} segments")
            assert lag.worst <= MAX_LAG, f"the SRT streams stalled {lag.worst} segments behind while callers knocked"
            assert all(publisher.poll() is None for publisher in flowing), "a flowing publisher was dropped"
            for stream in created:
                assert_no_hole(video_times(http, stream["id"]))
        finally:
            for publisher in flowing:
                publisher.kill()
                publisher.wait()
    log = node.log()
    assert "refused (1404)" in log and "refused (1409)" in log
    assert PASSPHRASE not in log
