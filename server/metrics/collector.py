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
        families = StreamFamilies()
        for row in self.state.streams:
            families.add(row)
        yield from families.all()

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


STREAM = ["stream_id"]


class StreamFamilies:
    """The per-stream families, a sample per stream row (stats while it is live, the
    running worker's usage when it has one)."""

    def __init__(self) -> None:
        self.live = GaugeMetricFamily("headwater_stream_live", "1 while the stream is live", labels=STREAM)
        self.backup = GaugeMetricFamily(
            "headwater_stream_backup_live", "1 while a backup publisher is connected", labels=STREAM
        )
        self.bitrate = GaugeMetricFamily(
            "headwater_stream_ingest_bitrate_bits",
            "Bits per media second of the source (all its tracks)",
            labels=STREAM,
        )
        self.fps = GaugeMetricFamily(
            "headwater_stream_frames_per_second", "The source's video frame rate", labels=STREAM
        )
        self.speed = GaugeMetricFamily(
            "headwater_stream_transcoding_speed",
            "Media seconds processed per wall second (1 = real time)",
            labels=STREAM,
        )
        self.viewers = GaugeMetricFamily(
            "headwater_stream_viewers",
            "Client addresses that fetched the stream's playlists or manifest in the last 6-12 s",
            labels=["stream_id", "protocol"],
        )
        self.counters = {  # StreamMeter attribute → its counter
            "parts": CounterMetricFamily(
                "headwater_stream_parts", "CMAF parts produced (every rendition)", labels=STREAM
            ),
            "segments": CounterMetricFamily(
                "headwater_stream_segments", "CMAF segments produced (every rendition)", labels=STREAM
            ),
            "late_parts": CounterMetricFamily(
                "headwater_stream_late_parts", "Parts announced over a part's duration behind schedule", labels=STREAM
            ),
            "served_bytes": CounterMetricFamily(
                "headwater_stream_served_bytes", "Bytes answered under /live/<id>/", labels=STREAM
            ),
            "worker_restarts": CounterMetricFamily(
                "headwater_stream_worker_restarts",
                "Workers that exited with an error (a new one takes over)",
                labels=STREAM,
            ),
            "recording_seconds": CounterMetricFamily(
                "headwater_stream_recording_seconds", "Media seconds written to recordings", labels=STREAM
            ),
        }
        self.worker_cpu = CounterMetricFamily(
            "headwater_stream_worker_cpu_seconds", "CPU time of the stream's running worker", labels=STREAM
        )
        self.worker_rss = GaugeMetricFamily(
            "headwater_stream_worker_resident_memory_bytes",
            "Resident memory of the stream's running worker",
            labels=STREAM,
        )

    def add(self, row: StreamRow) -> None:
        key = [str(row.stream_id)]
        self.live.add_metric(key, int(row.live))
        self.backup.add_metric(key, int(row.backup_live))
        meter = row.meter or StreamMeter()  # nothing counted yet: every stream has its series
        stats = meter.stats if row.live else None
        if stats is not None:
            for family, value in (
                (self.bitrate, stats.bitrate),
                (self.fps, stats.frame_rate),
                (self.speed, stats.speed),
            ):
                if value is not None:
                    family.add_metric(key, value)
        for protocol, count in meter.viewers().items():
            self.viewers.add_metric([*key, protocol], count)
        for attribute, counter in self.counters.items():
            counter.add_metric(key, getattr(meter, attribute))
        if row.worker is not None:
            self.worker_cpu.add_metric(key, row.worker.cpu_seconds)
            self.worker_rss.add_metric(key, row.worker.rss_bytes)

    def all(self) -> Iterator[Metric]:
        yield from (self.live, self.backup, self.bitrate, self.fps, self.speed, self.viewers)
        yield from self.counters.values()
        yield from (self.worker_cpu, self.worker_rss)
