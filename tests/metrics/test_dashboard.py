"""docker/grafana-dashboard.json asks only for series that /metrics serves."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from server.metrics.collector import NodeCollector, NodeState, StreamRow
from server.metrics.process_usage import Usage
from server.metrics.stream_meter import StreamMeter
from transcode.contract import Stats

DASHBOARD = Path(__file__).resolve().parents[2] / "docker" / "grafana-dashboard.json"


def served_names() -> set[str]:
    meter = StreamMeter()
    meter.stats = Stats(speed=1.0, frame_rate=30.0, bitrate=1)
    state = NodeState(streams=[StreamRow(1, True, True, meter, Usage(1.0, 1))], requests={("live", 200): 1})
    text = generate_latest(NodeCollector(state)).decode()
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


def test_every_series_the_dashboard_asks_for_is_served():
    dashboard = json.loads(DASHBOARD.read_text())
    asked = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"headwater_[a-z_]+", target["expr"])
    }
    asked |= set(re.findall(r"headwater_[a-z_]+", dashboard["templating"]["list"][0]["definition"]))
    assert asked and asked <= served_names(), asked - served_names()
