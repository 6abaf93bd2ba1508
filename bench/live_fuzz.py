"""Live fuzzer: mutated publishes against a running node while good streams play.

A node is started with three good streams (ffmpeg RTMP, ffmpeg SRT, ffmpeg RTMP; a 360p clip
at 6 Mbit/s, passthrough), each followed by an LL-HLS client (blocking reloads, every part).
After a reference period without fuzzing, PUBLISHES mutated publishes go to the node's ports
at RATE a second, a few at a time, in turn:
- RTMP: a real ffmpeg publish to a stream of the node (its client→server bytes, recorded
  through a proxy at the start of the run), flipped, truncated, spliced, with length fields
  blown up (fuzz/mutate.py), sent on a new connection;
- SRT: a libsrt caller with the stream's streamid (or a mutated one) sending mutated MPEG-TS
  from ffmpeg; and raw mutated datagrams (an SRT handshake's bytes) to the SRT port;
- HTTP: mutated requests (LL-HLS blocking reloads, API bodies) on the HTTP port; any 5xx
  answer is counted.
The good streams are followed through the fuzzing. Reported: node exits (must be 0), restarts
of the good streams' workers, LL-HLS parts later than one part duration during the fuzzing
against the reference period (same run), the node's RSS before, and SETTLE seconds after
each half of the publishes (a leak grows again in the second half), and the rate reached.

    python -m bench.live_fuzz [--publishes 10000] [--rate 25] [--reference 30] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import random
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench import smoke
from bench.clips import make_clip
from bench.stream_cost import follow_all, punctuality, push, wait_live
from fuzz.mutate import mutate
from ingest.srt import libsrt
from tests.support.node import Node

PART_TARGET = 0.5
SETTLE = 20.0  # idle workers stop after 10 s, ended playlists go 10 s later
SRT_MESSAGE = 1316
SRT_SEND_LIMIT = 64 * 1024  # bytes of mutated TS per SRT publish
CAPTURE_SECONDS = 2  # of a 160x120 publish: ~50 KB, as tests/ingest/data/ffmpeg_publish.bin


def low_rate_publish(seconds: float) -> list[str]:
    """ffmpeg input and codec arguments of a small real publish (H.264 + AAC)."""
    return [
        "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25", "-f", "lavfi", "-i", "sine=sample_rate=48000",
        "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", "-b:a", "32k",
    ]  # fmt: skip


def ffmpeg(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ffmpeg", "-v", "error", "-nostdin", *arguments], capture_output=True, check=False)


def record_rtmp_publish(node: Node, stream: dict, seconds: float) -> bytes:
    """The bytes a real ffmpeg publish sends, through a recording proxy to the node."""
    listener = socket.create_server(("127.0.0.1", 0))
    captured = bytearray()

    def relay() -> None:
        client, _ = listener.accept()
        upstream = socket.create_connection(("127.0.0.1", node.rtmp_port))

        def back() -> None:
            while data := upstream.recv(65536):
                client.sendall(data)

        threading.Thread(target=back, daemon=True).start()
        while data := client.recv(65536):
            captured.extend(data)
            upstream.sendall(data)
        upstream.close()
        client.close()

    thread = threading.Thread(target=relay, daemon=True)
    thread.start()
    url = f"rtmp://127.0.0.1:{listener.getsockname()[1]}/in/{stream['id']}?{stream['token']}"
    ffmpeg("-re", *low_rate_publish(seconds), "-f", "flv", url)
    thread.join(10)
    listener.close()
    return bytes(captured)


def mpegts_capture(work: Path) -> bytes:
    out = work / "capture.ts"
    ffmpeg("-y", *low_rate_publish(CAPTURE_SECONDS), "-f", "mpegts", str(out))
    return out.read_bytes()


class Fuzzer:
    """Sends the mutated publishes; counts what happened to them."""

    def __init__(self, node: Node, streams: list[dict], rtmp: list[bytes], ts: bytes, seed: int) -> None:
        self.node, self.streams, self.rtmp, self.ts = node, streams, rtmp, ts
        self.seed = seed
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        libsrt.lib.srt_startup()
        libsrt.route_logs()  # errors only: each refused caller is a warning otherwise
        libsrt.lib.srt_send.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        libsrt.lib.srt_send.restype = ctypes.c_int
        self.requests = self._requests()

    def _requests(self) -> list[bytes]:
        stream = self.streams[0]
        body = b'{"name": "fuzzed", "dvr_enabled": true, "cdn_id": 7, "uri": "rtmp://a.example/b"}'
        key = self.node.api_key.encode()
        return [
            f"GET /live/{stream['id']}/origin/index.m3u8?_HLS_msn=3&_HLS_part=1 HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
            f"GET /live/{stream['id']}/origin/seg_2.1.m4s HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
            b"POST /streaming/streams HTTP/1.1\r\nHost: x\r\nAuthorization: APIKey " + key + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body,
        ]

    def count(self, what: str) -> None:
        with self.lock:
            self.counts[what] += 1

    def one(self, index: int) -> None:
        rng = random.Random(self.seed * 1_000_003 + index)
        kind = index % 10
        try:
            if kind < 5:
                self.rtmp_publish(rng)
            elif kind < 8:
                self.srt_publish(rng)
            elif kind == 8:
                self.srt_datagrams(rng)
            else:
                self.http_request(rng)
        except OSError:
            self.count("connection error")

    def rtmp_publish(self, rng: random.Random) -> None:
        data = mutate(rng, rng.choice(self.rtmp), rng.choice(self.rtmp))
        with socket.create_connection(("127.0.0.1", self.node.rtmp_port), timeout=2) as sock:
            try:
                sock.sendall(data)
                sock.shutdown(socket.SHUT_WR)
                while sock.recv(65536):
                    pass
            except (TimeoutError, ConnectionError):
                pass
        self.count("rtmp")

    def srt_publish(self, rng: random.Random) -> None:
        stream = rng.choice(self.streams)
        streamid = f"in/{stream['id']}/{stream['token']}".encode()
        if rng.random() < 0.3:
            streamid = mutate(rng, streamid, b"backup/1/x")[:512]
        payload = mutate(rng, self.ts, self.ts)[:SRT_SEND_LIMIT]
        lib = libsrt.lib
        sock = lib.srt_create_socket()
        try:
            libsrt.set_int(sock, libsrt.SRTO_CONNTIMEO, 1000)
            if streamid:
                libsrt.set_bytes(sock, libsrt.SRTO_STREAMID, streamid)
            address = socket.inet_aton("127.0.0.1")
            sockaddr = (
                (socket.AF_INET).to_bytes(2, "little") + self.node.srt_port.to_bytes(2, "big") + address + bytes(8)
            )
            if lib.srt_connect(sock, sockaddr, len(sockaddr)) < 0:
                self.count("srt refused")
                return
            for start in range(0, len(payload), SRT_MESSAGE):
                if (
                    lib.srt_send(sock, payload[start : start + SRT_MESSAGE], len(payload[start : start + SRT_MESSAGE]))
                    < 0
                ):
                    break
            self.count("srt")
        except libsrt.SrtError:
            self.count("srt refused")
        finally:
            lib.srt_close(sock)

    def srt_datagrams(self, rng: random.Random) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for _ in range(rng.randint(1, 8)):
                sock.sendto(
                    mutate(rng, self.ts[:SRT_MESSAGE], self.rtmp[0][:64])[:1500], ("127.0.0.1", self.node.srt_port)
                )
        self.count("udp")

    def http_request(self, rng: random.Random) -> None:
        data = mutate(rng, rng.choice(self.requests), rng.choice(self.requests))
        with socket.create_connection(("127.0.0.1", self.node.http_port), timeout=2) as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            answer = b""
            try:
                while chunk := sock.recv(65536):
                    answer += chunk
            except (TimeoutError, ConnectionError):
                pass
        status = answer[9:12] if answer.startswith(b"HTTP/1.") else b""
        self.count("http 5xx" if status.startswith(b"5") else "http")

    def run(self, first: int, end: int, rate: float) -> float:
        """Publishes `first` to `end` at `rate` a second, 8 at a time; returns the rate reached."""
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            for index in range(first, end):
                delay = started + (index - first) / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(self.one, index)
        return (end - first) / (time.monotonic() - started)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def late(runs: list[tuple[dict, dict]]) -> str:
    on_time, parts, worst = punctuality(runs, PART_TARGET)
    return f"{parts - on_time}/{parts} parts late (> {PART_TARGET} s), worst {worst:.3f} s"


def run(
    work: Path,
    clip: Path,
    publishes: int,
    rate: float,
    reference: float,
    settle: float,
    kinds: int,
    capture: float,
    log: Path | None = None,
) -> None:
    node = Node(work / "node").start(timeout=120)  # a node starts in seconds, on a busy machine in tens
    api = httpx.Client(base_url=f"{node.base_url}/streaming", headers=node.headers, timeout=30)
    publishers: list[subprocess.Popen] = []
    try:
        good = [api.post("/streams", json={"name": f"good {i}"}).json() for i in range(kinds)]
        targets = [api.post("/streams", json={"name": f"fuzzed {i}"}).json() for i in range(min(kinds, 2))]
        for index, stream in enumerate(good):
            if index == 1:
                publishers.append(push(clip, stream["push_url_srt"], "mpegts"))
            else:
                publishers.append(push(clip, stream["push_url"]))
        rtmp = [record_rtmp_publish(node, stream, capture) for stream in targets]
        ts = mpegts_capture(work)
        wait_live(node, good)
        workers = {s["id"]: node.worker_pid(s["id"]) for s in good}
        ids = [s["id"] for s in good]
        quiet = asyncio.run(follow_all(node, ids, reference))
        before = rss_kib(node.process.pid)
        fuzzer = Fuzzer(node, targets, rtmp, ts, seed=22)
        fuzzed: list = []
        follower = threading.Thread(
            target=lambda: fuzzed.extend(asyncio.run(follow_all(node, ids, publishes / rate + settle)))
        )
        follower.start()
        # Two halves, the RSS settled after each: memory a leak holds grows again in the
        # second half; what the allocator keeps for reuse (arenas, caches) does not.
        half = publishes // 2
        reached = fuzzer.run(0, half, rate)
        time.sleep(settle)
        middle = rss_kib(node.process.pid)
        reached = (reached + fuzzer.run(half, publishes, rate)) / 2
        follower.join()
        time.sleep(settle)
        after = rss_kib(node.process.pid)
        exits = 0 if node.process.poll() is None else 1
        restarted = sum(node.worker_pid(sid) != pid for sid, pid in workers.items())
        counts = ", ".join(f"{what} {n}" for what, n in sorted(fuzzer.counts.items()))
        print(f"mutated publishes: {publishes} at {reached:.1f}/s ({counts})")
        print(f"captures: RTMP {', '.join(str(len(c)) for c in rtmp)} bytes, MPEG-TS {len(ts)} bytes")
        print(f"node exits during the run: {exits}; good streams' workers restarted: {restarted}/{len(good)}")
        print(f"reference ({reference:.0f} s, no fuzzing): {late(quiet)}")
        print(f"while fuzzing ({publishes / rate + settle:.0f} s): {late(fuzzed)}")
        mib = [f"{kib / 1024:.1f}" for kib in (before, middle, after)]
        print(
            f"node RSS: {mib[0]} MiB before, {mib[1]} MiB {settle:.0f} s after the first half, {mib[2]} MiB "
            f"{settle:.0f} s after the second (ratio after / before {smoke.ratio(after, before):.3f}, "
            f"second half's growth {smoke.ratio(after - middle, before):+.3f})"
        )
    finally:
        for publisher in publishers:
            publisher.kill()
            publisher.wait()
        api.close()
        node.stop()
        if log is not None:
            log.write_text(node.log())
    clean = "clean shutdown" if "Application shutdown complete" in node.log() else "NO clean shutdown"
    print(f"node stopped by SIGTERM: {clean} (status {node.process.returncode})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--publishes", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=25.0, help="mutated publishes a second")
    parser.add_argument("--reference", type=float, default=30.0, help="seconds followed before fuzzing")
    parser.add_argument("--log", type=Path, help="keep the node's log here")
    smoke.add_flag(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-live-fuzz-") as work:
        if args.smoke:  # one good stream, 30 publishes in 2 s
            clip = make_clip(smoke.CLIP_SECONDS, size=smoke.CLIP_SIZE, directory=Path(work))
            run(Path(work), clip, 30, 15.0, 2.0, 1.0, kinds=1, capture=0.5)
        else:
            clip = make_clip(30, size=(640, 360))
            run(
                Path(work),
                clip,
                args.publishes,
                args.rate,
                args.reference,
                SETTLE,
                kinds=3,
                capture=CAPTURE_SECONDS,
                log=args.log,
            )


if __name__ == "__main__":
    main()
