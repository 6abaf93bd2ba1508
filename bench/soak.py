"""Soak: one node, ten live streams of every kind, 200 LL-HLS viewers and publisher churn for
hours; every minute the node's and each worker's memory, descriptors, threads and disk.

    python -m bench.soak                 # 2 hours (the issue's)
    python -m bench.soak --minutes 25    # shorter; --out DIR keeps the CSVs and the plot

The streams: RTMP, RTMP (churned), SRT, SRT (churned), WHIP (aiortc, churned), a pull (RTMP
from nginx-rtmp, which ffmpeg publishes to: a source that flows as it plays; an HLS source
comes a segment at a time, so its parts are all "late" by design), two with a ladder (a 640x360
source into 360p + 240p: two 1080p ladders are not real time on a 2-core machine), one with a
30-minute DVR window and one recording. Every `--churn` seconds the next churned publisher
leaves and comes back 3 s later (a new publication, not a worker crash). Viewers follow each
stream's variants with blocking reloads (`bench/hls_client.follow`); the first viewer of each
stream times its parts (`Lateness`).

Pass (after the warm-up, the first quarter of the run, at least 2 minutes): memory,
descriptors and threads of the node and of the workers together grow by at most 5 % (median
of the first three samples after warm-up against the last three); no part more than 1 s late;
no worker restart the soak did not cause (the node's `headwater_stream_worker_restarts`).
The DVR window's and the recording's disk grow by design (the window fills for 30 minutes):
they are reported, not judged. No reference run: a soak compares the node with itself.

Writes `soak.csv` (one row a sample), `soak_processes.csv` (one row per process a sample) and
`soak.png` (the curves). `--smoke`: three streams (RTMP, WHIP churned, pull), six viewers, 12 s.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import smoke
from bench.clips import make_clip
from bench.hls_client import follow
from bench.nginx_rtmp import NginxRtmp
from bench.stream_cost import push
from tests.support.node import Node, command_lines
from tests.support.quality_sets import add_live_quality_set

LATE = 1.0  # seconds: a part later than this behind its neighbours fails the soak
GROWTH = 0.05  # the most the node's or the workers' resources may grow after warm-up
RESET_GAP = 3.0  # seconds without a part: the stream was down (churn), its schedule starts over
SCHEDULE_WINDOW = 60.0  # seconds of parts a part's lateness is measured against
PROCESS_COLUMNS = ["minute", "process", "pid", "rss_mb", "fds", "threads", "disk_mb", "late_over_1s", "worst_late_s"]
LADDER = [("q360", 640, 360, 600), ("q240", 426, 240, 300)]
CLIP_SECONDS = 60  # the publishers' loop
CLIP_BITRATE = {(320, 240): 750_000, (640, 360): 1_850_000}  # bit/s: with audio, what live x264 ultrafast gave


@dataclass
class Spec:
    name: str
    kind: str  # rtmp, srt, whip, pull
    fields: dict = field(default_factory=dict)
    size: tuple[int, int] = (320, 240)
    churn: bool = False
    ladder: bool = False


SPECS = [
    Spec("rtmp", "rtmp"),
    Spec("rtmp-churn", "rtmp", churn=True),
    Spec("srt", "srt"),
    Spec("srt-churn", "srt", churn=True),
    Spec("whip", "whip", churn=True),
    Spec("pull", "pull"),
    Spec("ladder-rtmp", "rtmp", size=(640, 360), ladder=True),
    Spec("ladder-srt", "srt", size=(640, 360), ladder=True, churn=True),
    Spec("dvr", "rtmp", {"dvr_enabled": True, "dvr_duration": 1800}),
    Spec("record", "rtmp", {"auto_record": True}, churn=True),
]
SMOKE_SPECS = [SPECS[0], SPECS[4], SPECS[5]]


class Lateness:
    """How late each part arrives against the schedule its stream's recent parts keep: a
    part's offset is its arrival (the kernel's stamp) minus the media time before its end; the
    schedule is the least offset of the last SCHEDULE_WINDOW seconds (a slow drift of the
    source is not lateness); lateness is how far above it a part's offset is. Takes the
    place of `follow`'s `arrivals` dict (and empties its `durations`)."""

    def __init__(self, durations: dict[str, float]) -> None:
        self.durations = durations
        self.media = 0.0
        self.offsets: deque[tuple[float, float]] = deque()
        self.last: float | None = None
        self.worst = 0.0  # since the last sample
        self.worst_ever = 0.0
        self.late = 0  # parts later than LATE, since the start
        self.parts = 0

    def __setitem__(self, uri: str, arrived: float) -> None:
        if self.last is not None and arrived - self.last > RESET_GAP:
            self.offsets.clear()  # the stream was down: a new schedule
        self.last = arrived
        self.parts += 1
        self.media += self.durations.pop(uri, 0.0)
        offset = arrived - self.media
        while self.offsets and self.offsets[-1][1] >= offset:  # offsets kept rising: the first is the least
            self.offsets.pop()
        self.offsets.append((arrived, offset))
        while self.offsets[0][0] < arrived - SCHEDULE_WINDOW:
            self.offsets.popleft()
        lateness = offset - self.offsets[0][1]
        self.worst = max(self.worst, lateness)
        self.worst_ever = max(self.worst_ever, lateness)
        self.late += lateness > LATE

    def take_worst(self) -> float:
        worst, self.worst = self.worst, 0.0
        return worst


class MachineCpu:
    """The machine's idle and steal shares since the last reading, from /proc/stat's `cpu` line.

    A lateness blip on every stream at once is a shortage of CPU: idle near zero says the
    soak's own load, steal up says the hypervisor gave the cores to another guest."""

    def __init__(self) -> None:
        self.last = self.read()

    @staticmethod
    def read() -> list[int]:
        """user nice system idle iowait irq softirq steal, in clock ticks since boot."""
        with open("/proc/stat") as stat:
            return [int(ticks) for ticks in stat.readline().split()[1:9]]

    def take(self) -> dict[str, float]:
        now = self.read()
        spent = [later - earlier for later, earlier in zip(now, self.last, strict=True)]
        self.last, total = now, sum(spent) or 1
        return {
            "idle_pct": round(100 * (spent[3] + spent[4]) / total, 1),
            "steal_pct": round(100 * spent[7] / total, 1),
            "load_1m": round(os.getloadavg()[0], 2),
        }


class PartCount:
    """`follow`'s `arrivals` for a viewer that is only load: counts parts, keeps nothing."""

    def __init__(self) -> None:
        self.parts = 0

    def __setitem__(self, uri: str, arrived: float) -> None:
        self.parts += 1


@dataclass
class Live:
    spec: Spec
    stream: dict
    publisher: subprocess.Popen | None = None
    variants: list[str] = field(default_factory=list)
    probe: Lateness | None = None
    churning: bool = False


class Soak:
    def __init__(self, work: Path, out: Path, minutes: float, viewers: int, churn: float, sample: float, specs):
        self.work, self.out = work, out
        self.seconds, self.viewers, self.churn_every, self.sample_every = minutes * 60, viewers, churn, sample
        self.specs = specs
        self.node = Node(work / "node", env={"HEADWATER_WHIP_ICE_LOOPBACK": "true"})
        self.http: httpx.Client | None = None
        self.nginx: NginxRtmp | None = None
        self.source: subprocess.Popen | None = None  # what the pulled stream pulls
        self.streams: list[Live] = []
        self.counts: list[PartCount] = []
        self.churns = 0
        self.dropped = 0  # publishers that ended without being churned (republished at once)
        self.rows: list[dict] = []
        self.cpu = MachineCpu()
        self.stop: asyncio.Event | None = None  # set by Ctrl-C or SIGTERM: stop early, report what was sampled

    # -- streams -----------------------------------------------------------------------------
    def start_streams(self) -> None:
        ladder = None
        for spec in self.specs:
            fields = {"name": spec.name, **spec.fields}
            if spec.kind == "pull":
                fields |= {"pull": True, "uri": self.pull_source()}
            if spec.ladder:
                ladder = ladder or add_live_quality_set(self.node, "soak", LADDER)
                fields["quality_set_id"] = ladder
            stream = self.http.post("/streaming/streams", json=fields).raise_for_status().json()
            live = Live(spec, stream)
            self.streams.append(live)
            self.publish(live)

    def pull_source(self) -> str:
        """An RTMP URL on nginx-rtmp that ffmpeg publishes to, for the pulled stream."""
        self.nginx = NginxRtmp(hls=False).start()
        url = f"rtmp://127.0.0.1:{self.nginx.rtmp_port}/in/soak"
        self.source = push(self.clip((320, 240)), url)
        return url

    def clip(self, size: tuple[int, int]) -> Path:
        """What the ffmpeg publishers loop: encoded once, so that they copy instead of encoding
        live (nine live x264 encoders took a quarter of the 2 cores the node is measured on)."""
        return make_clip(CLIP_SECONDS, size=size, directory=self.work, bitrate=CLIP_BITRATE[size])

    def publish(self, live: Live) -> None:
        spec, stream = live.spec, live.stream
        if spec.kind == "rtmp":
            live.publisher = push(self.clip(spec.size), stream["push_url"])
        elif spec.kind == "srt":
            live.publisher = push(self.clip(spec.size), stream["push_url_srt"], "mpegts")
        elif spec.kind == "whip":
            command = [sys.executable, "-m", "bench.soak", "--whip", stream["push_url_whip"], stream["token"]]
            live.publisher = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def unpublish(self, live: Live) -> None:
        if live.publisher is not None:
            live.publisher.terminate()  # ffmpeg closes its connection; the WHIP publisher DELETEs
            try:
                live.publisher.wait(timeout=10)
            except subprocess.TimeoutExpired:
                live.publisher.kill()
                live.publisher.wait()
            live.publisher = None

    def wait_playlist(self, live: Live, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.http.get(f"/live/{live.stream['id']}/master.m3u8")
            if response.status_code == 200:
                live.variants = [line for line in response.text.splitlines() if line.endswith("index.m3u8")]
                if live.variants:
                    return
            time.sleep(0.5)
        raise RuntimeError(f"stream {live.spec.name} not live after {timeout} s:\n{self.node.log()[-3000:]}")

    async def churn(self, until: float) -> None:
        """Every churn_every seconds the next churned publisher leaves and comes back."""
        churned = [live for live in self.streams if live.spec.churn]
        turn = 0
        while churned and time.monotonic() + self.churn_every < until:
            await asyncio.sleep(self.churn_every)
            live = churned[turn % len(churned)]
            turn += 1
            live.churning = True
            await asyncio.to_thread(self.unpublish, live)
            await asyncio.sleep(3)
            self.publish(live)
            live.churning = False
            self.churns += 1

    async def keep_publishing(self, until: float) -> None:
        """A publisher that ended on its own (its connection dropped) comes back at once, as
        OBS or a browser's WHIP client would; each one is counted and logged."""
        while time.monotonic() < until:
            await asyncio.sleep(2)
            for live in self.streams:
                if live.churning or live.publisher is None or live.publisher.poll() is None:
                    continue
                self.dropped += 1
                print(
                    f"  publisher of {live.spec.name} ended on its own (exit {live.publisher.returncode})", flush=True
                )
                self.publish(live)

    # -- viewers -----------------------------------------------------------------------------
    async def viewer(self, live: Live, variant: str, arrivals, durations, until: float) -> None:
        path = f"/live/{live.stream['id']}/{variant}"
        while time.monotonic() < until:
            try:
                await follow("127.0.0.1", self.node.http_port, path, until, arrivals, durations)
            except OSError:
                pass
            await asyncio.sleep(1)

    def viewer_tasks(self, until: float) -> list[asyncio.Task]:
        tasks = []
        for n in range(self.viewers):
            live = self.streams[n % len(self.streams)]
            variant = live.variants[(n // len(self.streams)) % len(live.variants)]
            if live.probe is None:
                durations: dict[str, float] = {}
                live.probe = Lateness(durations)
                tasks.append(asyncio.create_task(self.viewer(live, variant, live.probe, durations, until)))
            else:
                count = PartCount()
                self.counts.append(count)
                tasks.append(asyncio.create_task(self.viewer(live, variant, count, None, until)))
        return tasks

    # -- samples -----------------------------------------------------------------------------
    def workers(self) -> dict[int, int]:
        """stream id → its worker's pid, for this node's workers."""
        live_dir = str(self.node.data_dir / "live")
        found = {}
        for pid, args in command_lines():
            if "transcode.worker" in args and "--out-dir" in args:
                out_dir = args[args.index("--out-dir") + 1]
                if out_dir.startswith(live_dir):
                    found[int(args[args.index("--stream") + 1])] = pid
        return found

    def metrics(self) -> dict[str, float]:
        totals = {"late_parts": 0.0, "worker_restarts": 0.0}
        text = self.http.get("/metrics").text
        for name in totals:
            for match in re.finditer(rf"^headwater_stream_{name}_total\{{[^}}]*\}} ([0-9.e+]+)$", text, re.M):
                totals[name] += float(match.group(1))
        return totals

    def sample(self, began: float, writer) -> dict:
        at = time.monotonic() - began
        node = process(self.node.process.pid)
        workers = self.workers()
        row = {"minute": round(at / 60, 2)}
        row |= {f"node_{key}": value for key, value in node.items()}
        worker_rows = {stream_id: process(pid) for stream_id, pid in workers.items()}
        for key in ("rss_mb", "fds", "threads"):
            row[f"workers_{key}"] = round(sum(w[key] for w in worker_rows.values()), 1)
        row["workers"] = len(workers)
        disk = {live.spec.name: disk_mb(self.node.data_dir / "live" / str(live.stream["id"])) for live in self.streams}
        row["disk_live_mb"] = round(sum(mb for name, mb in disk.items() if name != "dvr"), 1)
        row["disk_dvr_mb"] = disk.get("dvr", 0.0)
        row["disk_recordings_mb"] = disk_mb(self.node.data_dir / "recordings")
        row |= self.metrics()
        worst = {live.spec.name: live.probe.take_worst() for live in self.streams if live.probe}
        row["late_over_1s"] = sum(live.probe.late for live in self.streams if live.probe)
        row["worst_late_s"] = round(max(worst.values(), default=0), 3)
        row["viewer_parts"] = sum(c.parts for c in self.counts) + sum(s.probe.parts for s in self.streams if s.probe)
        row["churns"] = self.churns
        row["publishers_dropped"] = self.dropped
        row |= self.cpu.take()
        self.rows.append(row)
        writer.writerow([row["minute"], "node", self.node.process.pid, *node.values(), disk_mb(self.node.data_dir)])
        for live in self.streams:
            stream_id, name = live.stream["id"], live.spec.name
            values = worker_rows.get(stream_id, {"rss_mb": 0.0, "fds": 0, "threads": 0})
            late = (live.probe.late, round(worst[name], 3)) if live.probe else ("", "")
            writer.writerow([row["minute"], name, workers.get(stream_id, ""), *values.values(), disk[name], *late])
        return row

    async def sampling(self, began: float, until: float, table, processes) -> None:
        rows, writer = None, csv.writer(processes)
        writer.writerow(PROCESS_COLUMNS)
        while True:
            row = await asyncio.to_thread(self.sample, began, writer)
            if rows is None:
                rows = csv.DictWriter(table, fieldnames=list(row))
                rows.writeheader()
            rows.writerow(row)
            table.flush()
            processes.flush()
            print(
                f"{row['minute']:7.2f} min  node {row['node_rss_mb']:6.1f} MB {row['node_fds']:4d} fds"
                f" {row['node_threads']:3d} thr | {row['workers']:2d} workers {row['workers_rss_mb']:7.1f} MB"
                f" {row['workers_fds']:5.0f} fds | late>1s {row['late_over_1s']} (worst {row['worst_late_s']} s)"
                f" | restarts {row['worker_restarts']:.0f} | churns {row['churns']}"
                f" | idle {row['idle_pct']:.0f} % steal {row['steal_pct']:.1f} % load {row['load_1m']:.1f}",
                flush=True,
            )
            if time.monotonic() + self.sample_every > until:
                return
            try:
                await asyncio.wait_for(self.stop.wait(), self.sample_every)
                return  # Ctrl-C or SIGTERM: the run ends here, with its report and plot
            except TimeoutError:
                pass

    # -- the run -----------------------------------------------------------------------------
    async def soak(self, table, processes) -> None:
        began = time.monotonic()
        until = began + self.seconds
        self.stop = asyncio.Event()
        for number in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(number, self.stop.set)
        tasks = self.viewer_tasks(until)
        tasks += [asyncio.create_task(self.churn(until)), asyncio.create_task(self.keep_publishing(until))]
        await self.sampling(began, until, table, processes)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def run(self) -> bool:
        self.out.mkdir(parents=True, exist_ok=True)
        self.node.start()
        try:
            with httpx.Client(base_url=self.node.base_url, headers=self.node.headers, timeout=30) as self.http:
                self.start_streams()
                for live in self.streams:
                    self.wait_playlist(live)
                print(
                    f"soak: {len(self.streams)} streams, {self.viewers} LL-HLS viewers, {self.seconds / 60:.1f} min,"
                    f" a sample every {self.sample_every:.0f} s, a publisher churned every {self.churn_every:.0f} s;"
                    f" out: {self.out}",
                    flush=True,
                )
                with (
                    open(self.out / "soak.csv", "w", newline="") as table,
                    open(self.out / "soak_processes.csv", "w", newline="") as processes,
                ):
                    asyncio.run(self.soak(table, processes))
        finally:
            for live in self.streams:
                self.unpublish(live)
            if self.source is not None:
                self.source.kill()
                self.source.wait()
            self.node.stop()
            if self.nginx is not None:
                self.nginx.stop()
        plot(self.rows, self.out / "soak.png")
        for live in self.streams:
            probe = live.probe or Lateness({})
            print(
                f"  {live.spec.name:12s} parts timed {probe.parts:6d}, later than {LATE:.0f} s: {probe.late:4d},"
                f" worst {probe.worst_ever:.2f} s"
            )
        return report(self.rows, self.seconds, len(self.streams))


def process(pid: int) -> dict:
    """RSS (MB), open descriptors and threads of a process (zeros once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return {"rss_mb": 0.0, "fds": 0, "threads": 0}
    rss = int(re.search(r"^VmRSS:\s+(\d+)", status, re.M).group(1))
    threads = int(re.search(r"^Threads:\s+(\d+)", status, re.M).group(1))
    return {"rss_mb": round(rss / 1024, 1), "fds": fds, "threads": threads}


def disk_mb(directory: Path) -> float:
    """Blocks used under a directory, in MB (files deleted meanwhile are skipped)."""
    total = 0
    for root, _, files in os.walk(directory):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass
    return round(total / 1e6, 1)


def growth(rows: list[dict], key: str, warm: int, streams: int) -> tuple[float, float, float]:
    """(value after warm-up, value at the end, growth): medians of three samples each. The
    workers' sums count only samples with every stream's worker up (not in a churn's gap)."""
    rows = rows[warm:]
    if key.startswith("workers_"):
        rows = [row for row in rows if row["workers"] == streams] or rows
    after = [row[key] for row in rows[:3]]
    end = [row[key] for row in rows[-3:]]
    first, last = statistics.median(after), statistics.median(end)
    return first, last, (last - first) / first if first else 0.0


def report(rows: list[dict], seconds: float, streams: int) -> bool:
    minutes = rows[-1]["minute"] if rows else 0
    warm = next((i for i, row in enumerate(rows) if row["minute"] >= max(2, seconds / 60 / 4)), len(rows) - 1)
    if len(rows) - warm < 3:
        warm = max(0, len(rows) - 3)
    print(f"\nafter warm-up (from {rows[warm]['minute']:.1f} min) to the end ({minutes:.1f} min):")
    passed = True
    for key in ("node_rss_mb", "node_fds", "node_threads", "workers_rss_mb", "workers_fds", "workers_threads"):
        first, last, grew = growth(rows, key, warm, streams)
        ok = grew <= GROWTH
        passed &= ok
        print(f"  {key:16s} {first:9.1f} → {last:9.1f}  {grew * 100:+6.1f} %  {'ok' if ok else 'FAIL'}")
    for key in ("disk_live_mb", "disk_dvr_mb", "disk_recordings_mb"):
        first, last, grew = growth(rows, key, warm, streams)
        print(f"  {key:16s} {first:9.1f} → {last:9.1f}  {grew * 100:+6.1f} %  (reported)")
    late = rows[-1]["late_over_1s"]
    worst = max(row["worst_late_s"] for row in rows)
    restarts = rows[-1]["worker_restarts"]
    node_late = rows[-1]["late_parts"]
    print(f"parts more than {LATE:.0f} s late: {late} (worst {worst:.2f} s); node's late parts: {node_late:.0f}")
    print(f"worker restarts not injected: {restarts:.0f}; publisher churns: {rows[-1]['churns']}")
    print(f"publishers that dropped on their own (republished): {rows[-1]['publishers_dropped']}")
    print(f"parts fetched by viewers: {rows[-1]['viewer_parts']}")
    passed &= late == 0 and restarts == 0
    print(f"soak: {'PASS' if passed else 'FAIL'}")
    return passed


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib  # the `bench` extra

    matplotlib.use("Agg")
    from matplotlib import pyplot

    minutes = [row["minute"] for row in rows]
    panels = [
        ("RSS (MB)", ["node_rss_mb", "workers_rss_mb"]),
        ("open descriptors", ["node_fds", "workers_fds"]),
        ("threads", ["node_threads", "workers_threads"]),
        ("disk (MB)", ["disk_live_mb", "disk_dvr_mb", "disk_recordings_mb"]),
        ("worst part lateness (s)", ["worst_late_s"]),
        ("counters", ["late_over_1s", "late_parts", "worker_restarts", "churns", "publishers_dropped"]),
    ]
    figure, axes = pyplot.subplots(3, 2, figsize=(10, 8), sharex=True)
    for axis, (title, keys) in zip(axes.flat, panels, strict=True):
        for key in keys:
            axis.plot(minutes, [row[key] for row in rows], label=key)
        axis.set_title(title, fontsize=9)
        axis.legend(fontsize=7)
        axis.set_ylim(bottom=0)
    for axis in axes[-1]:
        axis.set_xlabel("minutes")
    figure.tight_layout()
    figure.savefig(path, dpi=70)


async def whip_publish(url: str, token: str) -> None:
    """The WHIP publisher's own process: aiortc until SIGTERM, then DELETE its session."""
    from tests.support.whip_client import WhipPublisher

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    publisher = WhipPublisher(url, token)

    @publisher.pc.on("connectionstatechange")
    def ended() -> None:  # the node closed it, or ICE consent lapsed: exit, to be republished
        if publisher.pc.connectionState in ("failed", "closed"):
            stop.set()

    response = await publisher.publish()
    if response.status_code == 201:
        await stop.wait()
    await publisher.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=120)
    parser.add_argument("--viewers", type=int, default=200)
    parser.add_argument("--churn", type=float, default=180, help="seconds between two publisher churns")
    parser.add_argument("--sample", type=float, default=60, help="seconds between two samples")
    parser.add_argument("--out", type=Path, help="where the CSVs and the plot go (default: a temp dir, kept)")
    parser.add_argument("--whip", nargs=2, metavar=("URL", "TOKEN"), help=argparse.SUPPRESS)
    smoke.add_flag(parser)
    args = parser.parse_args()
    if args.whip:
        asyncio.run(whip_publish(*args.whip))
        return
    specs = SPECS
    if args.smoke:
        args.minutes, args.viewers, args.churn, args.sample, specs = 0.2, 6, 4, 4, SMOKE_SPECS
    out = args.out or Path(tempfile.mkdtemp(prefix="soak-"))
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as work:
        passed = Soak(Path(work), out, args.minutes, args.viewers, args.churn, args.sample, specs).run()
    sys.exit(0 if passed or args.smoke else 1)


if __name__ == "__main__":
    main()
