"""/metrics end to end: a real node (JSON logs, a metrics token), a real publisher and a viewer.

One publish carries every check: the token is enforced; the text parses with
prometheus-client's parser; the stream's series move as it goes live, a viewer follows its
LL-HLS playlist and its worker is killed; deleting the stream removes its series; and the node's log, workers'
records included, is one JSON object per line throughout.
"""

from __future__ import annotations

import json
import os
import signal

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import fetch_ok, wait_for
from tests.support.hls import parse_media_playlist
from tests.support.node import Node
from tests.support.publisher import ffmpeg_publish

TOKEN = "metrics-token-for-the-e2e-test"


@pytest.fixture(scope="module")
def media_node(tmp_path_factory):
    node = Node(
        tmp_path_factory.mktemp("metrics-node"),
        env={"HEADWATER_METRICS_TOKEN": TOKEN, "HEADWATER_LOG_FORMAT": "json"},
    ).start()
    yield node
    node.stop()


def scrape(http: httpx.Client) -> dict[tuple[str, tuple], float]:
    response = http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def of(stream_id: int, **labels) -> tuple:
    return tuple(sorted({"stream_id": str(stream_id), **labels}.items()))


def stream_series(found: dict, stream_id: int) -> list:
    return [key for key in found if ("stream_id", str(stream_id)) in key[1]]


def test_metrics_follow_a_stream_and_its_viewer_and_logs_are_json(media_node, http, new_stream):
    assert httpx.get(f"{media_node.base_url}/metrics").status_code == 401
    wrong = httpx.get(f"{media_node.base_url}/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"

    stream = new_stream(name="metrics")
    sid = stream["id"]
    before = scrape(http)
    assert before["headwater_stream_live", of(sid)] == 0
    assert before["headwater_stream_parts_total", of(sid)] == 0
    assert before["headwater_stream_viewers", of(sid, protocol="llhls")] == 0

    publisher = ffmpeg_publish(stream["push_url"], seconds=20)
    try:
        wait_for(lambda: fetch_ok(http, f"/live/{sid}/master.m3u8"), what="the master playlist")
        live = wait_for(
            lambda: (
                (found := scrape(http))["headwater_stream_live", of(sid)] == 1
                and ("headwater_stream_ingest_bitrate_bits", of(sid)) in found
                and found
            ),
            what="the stream live in /metrics, with its stats",
        )
        assert live["headwater_publishers", (("protocol", "rtmp"),)] == 1
        assert live["headwater_stream_parts_total", of(sid)] > 0
        assert 20_000 < live["headwater_stream_ingest_bitrate_bits", of(sid)] < 5_000_000
        assert 20 <= live["headwater_stream_frames_per_second", of(sid)] <= 30  # the publisher sends 25
        assert live["headwater_stream_worker_cpu_seconds_total", of(sid)] > 0
        assert live["headwater_cpu_seconds_total", (("process", "workers"),)] > 0

        # a viewer: the master, the origin's playlist (a blocking reload) and its newest part
        served = live["headwater_stream_served_bytes_total", of(sid)]
        assert http.get(f"/live/{sid}/master.m3u8").status_code == 200
        playlist = parse_media_playlist(http.get(f"/live/{sid}/origin/index.m3u8").text)
        newest = playlist.segments[-1]
        reload = http.get(f"/live/{sid}/origin/index.m3u8", params={"_HLS_msn": newest.msn + 1, "_HLS_part": 0})
        assert reload.status_code == 200
        part = http.get(f"/live/{sid}/origin/{newest.uri}")
        assert part.status_code == 200
        watched = scrape(http)
        assert watched["headwater_stream_viewers", of(sid, protocol="llhls")] == 1
        assert watched["headwater_stream_viewers", of(sid, protocol="dash")] == 0
        assert watched["headwater_stream_served_bytes_total", of(sid)] >= served + len(part.content)
        assert watched["headwater_http_requests_total", (("route", "live"), ("status", "200"))] >= 4
        assert watched["headwater_stream_parts_total", of(sid)] > live["headwater_stream_parts_total", of(sid)]
        assert watched["headwater_stream_segments_total", of(sid)] > 0
        assert watched["headwater_stream_worker_restarts_total", of(sid)] == 0

        os.kill(media_node.worker_pid(sid), signal.SIGKILL)  # a crash: the node starts another worker
        wait_for(
            lambda: (
                scrape(http)["headwater_stream_worker_restarts_total", of(sid)] == 1
                and media_node.worker_pid(sid) is not None
            ),
            what="the restart counted and a new worker",
        )
    finally:
        publisher.kill()
        publisher.wait()

    assert http.delete(f"/streaming/streams/{sid}").status_code == 204
    gone = scrape(http)
    assert stream_series(gone, sid) == []
    assert gone["headwater_http_requests_total", (("route", "metrics"), ("status", "401"))] == 2

    lines = media_node.log().splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= record.keys() for record in records)
    assert any(r.get("stream_id") == sid and r["logger"] == "headwater.supervisor" for r in records)
    assert any(r["logger"] == "uvicorn.error" for r in records)  # uvicorn's lines too
    assert TOKEN not in media_node.log()
