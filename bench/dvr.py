"""A full DVR window (4 hours) against the same stream without DVR, each on a node of its own.

Both nodes get the same source (`bench/paced_flv.py`: a 320x180 10 fps clip repeated, the
window's worth pushed as fast as it goes, then real time), so what differs is the window:

(a) requests/s (`wrk`) of the DVR playlist as hls.js reloads it (a blocking reload with
    `_HLS_skip=YES`, answered with a delta update) and of the whole DVR playlist, against the
    DVR-off playlist (targets: the delta ≤ 1.5× its cost, i.e. ≥ 0.67× its req/s; the whole
    one ≤ 3×, ≥ 0.33×);
(b) an old DVR segment (sent from its file with sendfile) against nginx serving the same file
    (target ≥ 25 %);
(c) memory (PSS) of node + worker with the full window against the node + worker without
    DVR (target: ≤ 64 MiB more), and their CPU at real time with no viewer.

    python -m bench.dvr [--hours 4] [--smoke]
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

import httpx

from bench import smoke
from bench.delivery import wrk
from bench.hls_client import last_part
from bench.nginx_rtmp import NginxRtmp
from bench.paced_flv import PacedFlvPublisher, make_loop_clip
from bench.proctree import cpu_seconds
from tests.support.node import Node

WRK_SECONDS = 8
MIB = 1024 * 1024
EXTINF = re.compile(r"^#EXTINF:([\d.]+),\n(\S+)$", re.MULTILINE)


def pss(pid: int) -> int:
    """Proportional set size in bytes (shared pages split between their users)."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no Pss for {pid}")


def listed(text: str) -> list[tuple[float, str]]:
    return [(float(seconds), uri) for seconds, uri in EXTINF.findall(text)]


def fill(
    nodes: dict[str, Node], streams: dict[str, dict], clip: Path, window: float, rate: float
) -> list[PacedFlvPublisher]:
    """Push `window` seconds (and a few more) into both streams at `rate` × real time; wait
    until the DVR playlist lists the whole window."""
    burst = window + 20
    publishers = [PacedFlvPublisher(streams[name]["push_url"], clip, burst, rate) for name in nodes]
    started = time.monotonic()
    for publisher in publishers:
        publisher.start()
    url = f"{nodes['dvr'].base_url}/live/{streams['dvr']['id']}/origin/index.m3u8"
    seconds = 0.0
    while seconds < window - 4:
        time.sleep(2)
        for publisher in publishers:
            if publisher.error or not publisher.is_alive():
                raise RuntimeError(f"publisher stopped: {publisher.error}")
        response = httpx.get(url, timeout=30)
        seconds = sum(d for d, _ in listed(response.text)) if response.status_code == 200 else 0.0
    took = time.monotonic() - started
    print(f"filled: {seconds:.0f} s of window listed after {took:.0f} s ({seconds / took:.0f}× real time)")
    return publishers


def memory(nodes: dict[str, Node], streams: dict[str, dict]) -> None:
    sizes = {}
    for name, node in nodes.items():
        worker = node.worker_pid(streams[name]["id"])
        assert node.process is not None and worker is not None
        sizes[name] = (pss(node.process.pid), pss(worker))
    for name, (node_bytes, worker_bytes) in sizes.items():
        print(
            f"memory {name:5}: node {node_bytes / MIB:6.1f} MiB + worker {worker_bytes / MIB:6.1f} MiB"
            f" = {(node_bytes + worker_bytes) / MIB:6.1f} MiB (PSS)"
        )
    more = sum(sizes["dvr"]) - sum(sizes["plain"])
    print(f"memory DVR - without: {more / MIB:+.1f} MiB (target ≤ 64 MiB)")


def cpu(nodes: dict[str, Node], streams: dict[str, dict], seconds: float) -> None:
    """Each node's and worker's CPU at real time with no viewer: what the window costs the
    packaging (per segment, the MPD and the TS playlists are still rendered whole)."""
    pids = {}
    for name, node in nodes.items():
        assert node.process is not None
        pids[name] = (node.process.pid, node.worker_pid(streams[name]["id"]))
    before = {name: [cpu_seconds([pid]) for pid in both] for name, both in pids.items()}
    time.sleep(seconds)
    for name, both in pids.items():
        node_cpu, worker_cpu = ((cpu_seconds([pid]) - start) / seconds for pid, start in zip(both, before[name]))
        print(
            f"cpu {name:5}: node {100 * node_cpu:5.1f} % + worker {100 * worker_cpu:5.1f} % of a core (live, no viewer)"
        )


def playlists(nodes: dict[str, Node], streams: dict[str, dict], wrk_seconds: int) -> None:
    dvr = f"{nodes['dvr'].base_url}/live/{streams['dvr']['id']}/origin/index.m3u8"
    plain = f"{nodes['plain'].base_url}/live/{streams['plain']['id']}/origin/index.m3u8"
    msn, part, _ = last_part(httpx.get(dvr, timeout=30).text)
    # answered at once: it is there (a segment just begun has no part yet: the last complete one)
    wanted = f"_HLS_msn={msn}&_HLS_part={part}" if part >= 0 else f"_HLS_msn={msn - 1}"
    delta = f"{dvr}?{wanted}&_HLS_skip=YES"
    identity, gzip = ("Accept-Encoding: identity",), ("Accept-Encoding: gzip",)
    sizes = {
        url: len(httpx.get(url, timeout=30, headers={"Accept-Encoding": "identity"}).content)
        for url in (plain, delta, dvr)
    }
    zipped = int(httpx.get(dvr, timeout=30, headers={"Accept-Encoding": "gzip"}).headers["content-length"])
    assert b"#EXT-X-SKIP" in httpx.get(delta).content, "no delta update"
    reference = wrk(plain, wrk_seconds, *identity)
    print(f"playlists: wrk -t2 -c64, {wrk_seconds} s each, same run")
    print(f"  DVR off, playlist           ({sizes[plain]:7d} B): {reference:8.0f} req/s")
    for name, url, size, headers, bound in (
        ("DVR delta blocking reload", delta, sizes[delta], identity, 1.5),
        ("DVR whole playlist", dvr, sizes[dvr], identity, 3.0),
        ("DVR whole playlist, gzip", dvr, zipped, gzip, 3.0),  # as browsers ask for it
    ):
        rate = wrk(url, wrk_seconds, *headers)
        print(
            f"  {name:27} ({size:7d} B): {rate:8.0f} req/s → {rate / reference:.2f}× the DVR-off playlist"
            f" (target ≥ {1 / bound:.2f}×)"
        )


def old_segment(node: Node, stream: dict, nginx: NginxRtmp, wrk_seconds: int) -> None:
    base = f"{node.base_url}/live/{stream['id']}/origin"
    segments = listed(httpx.get(f"{base}/index.m3u8", timeout=30).text)
    uri = segments[len(segments) // 4][1]  # far behind the edge, still listed for the whole run
    data = httpx.get(f"{base}/{uri}").content
    (nginx.static_dir / "segment.m4s").write_bytes(data)
    headwater, reference = wrk(f"{base}/{uri}", wrk_seconds), wrk(nginx.url("static/segment.m4s"), wrk_seconds)
    print(
        f"old DVR segment ({len(data)} B, from disk): Headwater {headwater:8.0f} req/s, nginx static "
        f"{reference:8.0f} req/s → ratio {headwater / reference:.2f} (target ≥ 0.25)"
    )


def run(work: Path, window: float, wrk_seconds: int, rate: float) -> None:
    clip = make_loop_clip(work / "loop.flv")
    nodes = {"dvr": Node(work / "dvr").start(), "plain": Node(work / "plain").start()}
    nginx = NginxRtmp(hls=False).start()
    publishers: list[PacedFlvPublisher] = []
    try:
        streams = {}
        for name, node in nodes.items():
            fields = {"name": name} | ({"dvr_enabled": True, "dvr_duration": int(window)} if name == "dvr" else {})
            streams[name] = httpx.post(f"{node.base_url}/streaming/streams", headers=node.headers, json=fields).json()
        print(f"source: 320x180 10 fps H.264 ~100 kbit/s, 2 s GOP; DVR window {window:.0f} s")
        publishers = fill(nodes, streams, clip, window, rate)
        time.sleep(6)  # real time again: the live edge as viewers see it
        memory(nodes, streams)
        cpu(nodes, streams, 2 if wrk_seconds < WRK_SECONDS else 20)
        playlists(nodes, streams, wrk_seconds)
        old_segment(nodes["dvr"], streams["dvr"], nginx, wrk_seconds)
    finally:
        for publisher in publishers:
            publisher.stop()
        nginx.stop()
        for node in nodes.values():
            node.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=4.0, help="the DVR window (the issue's longest: 4)")
    parser.add_argument("--rate", type=float, default=40, help="× real time while the window fills")
    smoke.add_flag(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-dvr-") as work:
        if args.smoke:  # a 60 s window, wrk for 1 s
            run(Path(work), 60, 1, 20)
        else:
            run(Path(work), args.hours * 3600, WRK_SECONDS, args.rate)


if __name__ == "__main__":
    main()
