"""The node's metrics in Prometheus' terms, built at scrape time from a `NodeState`.

prometheus-client's custom collector pattern: nothing on the node updates a Prometheus
object; a scrape reads what the node keeps anyway (the streams' rows, their `StreamMeter`s,
the sources, /proc) into a `NodeState` (server/metrics/scrape.py), and `NodeCollector`
turns it into metric families. A stream's series are those of the rows that exist, so a
deleted stream's disappear with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from server.metrics.process_usage import Usage
from server.metrics.stream_meter import StreamMeter

PUBLISHER_PROTOCOLS = ("rtmp", "rtmps", "srt", "webrtc")


@dataclass
class StreamRow:
    stream_id: int
    live: bool
    backup_live: bool
    meter: StreamMeter | None = None  # None: nothing ran or was served on this node yet
    worker: Usage | None = None  # the stream's running worker


@dataclass
class NodeState:
    streams: list[StreamRow] = field(default_factory=list)
    publishers: dict[str, int] = field(default_factory=dict)  # by protocol
    pulled_streams: int = 0
    requests: dict[tuple[str, int], int] = field(default_factory=dict)  # (route class, status) → answered
    blocked: dict[str, int] = field(default_factory=dict)  # "playlist" (blocking reloads) / "media" (not yet written)
    node: Usage = field(default_factory=Usage)
    children: Usage = field(default_factory=Usage)
    database_latency: float = 0.0  # seconds: the scrape's own query
    status_writes: tuple[int, float] = (0, 0.0)  # batches written, seconds spent


class NodeCollector(Collector):
    """Yields every family of one `NodeState` (a new collector per scrape)."""

    def __init__(self, state: NodeState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        yield from self.stream_families()
        yield from self.node_families()

    def stream_families(self) -> Iterator[Metric]:
        label = ["stream_id"]
        live = GaugeMetricFamily("headwater_stream_live", "1 while the stream is live", labels=label)
        backup = GaugeMetricFamily(
            "headwater_stream_backup_live", "1 while a backup publisher is connected", labels=label
        )
        bitrate = GaugeMetricFamily(
            "headwater_stream_ingest_bitrate_bits", "Bits per media second of the source (all its tracks)", labels=label
        )
        fps = GaugeMetricFamily("headwater_stream_frames_per_second", "The source's video frame rate", labels=label)
        speed = GaugeMetricFamily(
            "headwater_stream_transcoding_speed",
            "Media seconds processed per wall second (1 = real time)",
            labels=label,
        )
        parts = CounterMetricFamily("headwater_stream_parts", "CMAF parts produced (every rendition)", labels=label)
        segments = CounterMetricFamily(
            "headwater_stream_segments", "CMAF segments produced (every rendition)", labels=label
        )
        late = CounterMetricFamily(
            "headwater_stream_late_parts", "Parts announced over a part's duration behind their schedule", labels=label
        )
        viewers = GaugeMetricFamily(
            "headwater_stream_viewers",
            "Client addresses that fetched the stream's playlists or manifest in the last 6-12 s",
            labels=["stream_id", "protocol"],
        )
        served = CounterMetricFamily("headwater_stream_served_bytes", "Bytes answered under /live/<id>/", labels=label)
        restarts = CounterMetricFamily(
            "headwater_stream_worker_restarts", "Workers that exited with an error (a new one takes over)", labels=label
        )
        recorded = CounterMetricFamily(
            "headwater_stream_recording_seconds", "Media seconds written to recordings", labels=label
        )
        worker_cpu = CounterMetricFamily(
            "headwater_stream_worker_cpu_seconds", "CPU time of the stream's running worker", labels=label
        )
        worker_rss = GaugeMetricFamily(
            "headwater_stream_worker_resident_memory_bytes",
            "Resident memory of the stream's running worker",
            labels=label,
        )
        for row in self.state.streams:
            key = [str(row.stream_id)]
            live.add_metric(key, int(row.live))
            backup.add_metric(key, int(row.backup_live))
            meter = row.meter
            if meter is None:
                meter = StreamMeter()  # counters at zero: every stream has its series
            stats = meter.stats if row.live else None
            if stats is not None:
                for family, value in ((bitrate, stats.bitrate), (fps, stats.frame_rate), (speed, stats.speed)):
                    if value is not None:
                        family.add_metric(key, value)
            parts.add_metric(key, meter.parts)
            segments.add_metric(key, meter.segments)
            late.add_metric(key, meter.late_parts)
            for protocol, count in meter.viewers().items():
                viewers.add_metric([*key, protocol], count)
            served.add_metric(key, meter.served_bytes)
            restarts.add_metric(key, meter.worker_restarts)
            recorded.add_metric(key, meter.recording_seconds)
            if row.worker is not None:
                worker_cpu.add_metric(key, row.worker.cpu_seconds)
                worker_rss.add_metric(key, row.worker.rss_bytes)
        yield from (live, backup, bitrate, fps, speed, parts, segments, late, viewers, served, restarts, recorded)
        yield from (worker_cpu, worker_rss)

    def node_families(self) -> Iterator[Metric]:
        state = self.state
        publishers = GaugeMetricFamily("headwater_publishers", "Connected publishers by protocol", labels=["protocol"])
        for protocol in PUBLISHER_PROTOCOLS:
            publishers.add_metric([protocol], state.publishers.get(protocol, 0))
        yield publishers
        yield GaugeMetricFamily(
            "headwater_pulled_streams", "Streams whose source this node pulls", value=state.pulled_streams
        )
        requests = CounterMetricFamily(
            "headwater_http_requests", "HTTP requests answered by route class and status", labels=["route", "status"]
        )
        for (route, status), count in sorted(state.requests.items()):
            requests.add_metric([route, str(status)], count)
        yield requests
        blocked = GaugeMetricFamily(
            "headwater_blocked_requests",
            "Requests held until what they ask for exists: LL-HLS blocking reloads (playlist), "
            "preload-hinted parts and DASH segments being written (media)",
            labels=["kind"],
        )
        for kind in ("playlist", "media"):
            blocked.add_metric([kind], state.blocked.get(kind, 0))
        yield blocked
        cpu = CounterMetricFamily(
            "headwater_cpu_seconds",
            "CPU time of the node's process and of its children (workers, renderer)",
            labels=["process"],
        )
        rss = GaugeMetricFamily(
            "headwater_resident_memory_bytes",
            "Resident memory of the node's process and of its running children",
            labels=["process"],
        )
        for process, usage in (("node", state.node), ("workers", state.children)):
            cpu.add_metric([process], usage.cpu_seconds)
            rss.add_metric([process], usage.rss_bytes)
        yield cpu
        yield rss
        yield GaugeMetricFamily(
            "headwater_database_latency_seconds",
            "Round trip of this scrape's query of the streams table",
            value=state.database_latency,
        )
        count, seconds = state.status_writes
        yield SummaryMetricFamily(
            "headwater_database_status_write_seconds",
            "Batches of live status written to the database, and their time",
            count_value=count,
            sum_value=seconds,
        )
