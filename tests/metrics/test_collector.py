"""The text /metrics answers, read back with prometheus-client's own parser."""

from __future__ import annotations

import os

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from server.metrics.collector import NodeCollector, NodeState, StreamRow
from server.metrics.http_requests import CountedRequests, route_class
from server.metrics.process_usage import children_usage, process_usage
from server.metrics.stream_meter import StreamMeter
from transcode.contract import Stats


def samples(state: NodeState) -> dict[tuple[str, tuple], float]:
    text = generate_latest(NodeCollector(state)).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_every_stream_row_has_its_series_and_stats_only_while_live():
    meter = StreamMeter()
    meter.parts, meter.served_bytes = 12, 3456
    meter.stats = Stats(speed=1.0, frame_rate=25.0, bitrate=800_000)
    meter.followers.add(("origin/index.m3u8", "127.0.0.1", b"hls.js"))  # counted before the tick hands it over
    state = NodeState(
        streams=[StreamRow(7, True, False, meter), StreamRow(8, False, False, None)],
        publishers={"rtmp": 1},
        requests={("live", 200): 5, ("api", 404): 1},
        blocked={"playlist": 2},
    )
    found = samples(state)
    assert found["headwater_stream_live", (("stream_id", "7"),)] == 1
    assert found["headwater_stream_live", (("stream_id", "8"),)] == 0
    assert found["headwater_stream_parts_total", (("stream_id", "7"),)] == 12
    assert found["headwater_stream_parts_total", (("stream_id", "8"),)] == 0
    assert found["headwater_stream_served_bytes_total", (("stream_id", "7"),)] == 3456
    assert found["headwater_stream_ingest_bitrate_bits", (("stream_id", "7"),)] == 800_000
    assert ("headwater_stream_ingest_bitrate_bits", (("stream_id", "8"),)) not in found
    assert found["headwater_stream_viewers", (("protocol", "llhls"), ("stream_id", "7"))] == 1
    assert found["headwater_publishers", (("protocol", "rtmp"),)] == 1
    assert found["headwater_http_requests_total", (("route", "live"), ("status", "200"))] == 5
    assert found["headwater_blocked_requests", (("kind", "playlist"),)] == 2


def test_route_classes():
    assert route_class("/live/1/master.m3u8") == "live"
    assert route_class("/streaming/streams") == "api"
    assert route_class("/player/1") == "player"
    assert route_class("/metrics") == "metrics"
    assert route_class("/favicon.ico") == "other"


async def test_asgi_responses_are_counted_by_class_and_status():
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 404 if scope["path"] == "/x" else 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def ignore(message):
        pass

    counted = CountedRequests(app)
    for path in ("/streaming/streams", "/streaming/streams", "/x"):
        await counted({"type": "http", "path": path}, None, ignore)
    assert counted.answered == {("api", 200): 2, ("other", 404): 1}


def test_process_usage_reads_this_process():
    usage = process_usage(os.getpid())
    assert usage is not None and usage.cpu_seconds > 0 and usage.rss_bytes > 10_000_000
    assert process_usage(2**22 + 12345) is None
    assert children_usage().cpu_seconds >= 0
