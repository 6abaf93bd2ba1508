"""Bench: CPU cost of Headwater's RTMP ingest next to nginx-rtmp for the same 1080p stream.

Publishes a pre-encoded ~6 Mbit/s 1080p clip (looped, -re, -c copy) for DURATION seconds
into (a) RtmpServer in a child process whose sink wraps every message as an FLV tag, and
(b) nginx-rtmp (`live on`, no HLS), measuring each server process's CPU from
/proc/<pid>/stat over the publish. Prints % of one core for each and the ratio.

    python -m bench.rtmp_ingest [--seconds 20] [--loop asyncio] [--read-interval 0.3] [--smoke]

`--read-interval` is the node's `ingest_read_interval` (its default unless given; 0 reads as data comes).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

from bench import smoke
from server.settings import Settings

OUT = Path(__file__).resolve().parent / "out"
CLIP = OUT / "rtmp_1080p_6M.flv"
CLIP_SECONDS = 10
NGINX_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def make_clip(clip: Path = CLIP, size: str = "1920x1080", seconds: int = CLIP_SECONDS) -> None:
    """`seconds` of `size` 30 fps H.264 at ~6 Mbit/s (noise keeps x264 from undershooting) + AAC:
    10 s of 1080p30 for a measurement, a small one for a smoke run."""
    if clip.exists():
        return
    clip.parent.mkdir(exist_ok=True)
    print(f"encoding {clip} once ...", flush=True)
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={size}:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            str(seconds),
            "-vf",
            "noise=alls=12:allf=t",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            "6M",
            "-maxrate",
            "6M",
            "-bufsize",
            "6M",
            "-g",
            "60",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-f",
            "flv",
            str(clip),
        ],
        check=True,
    )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def publish_and_measure(pid: int, port: int, seconds: float, clip: Path) -> tuple[float, float]:
    """Returns (% of one core, Mbit/s sent) while ffmpeg publishes ``clip`` for ``seconds``."""
    size = clip.stat().st_size
    cpu0, wall0 = cpu_seconds(pid), time.monotonic()
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-re",
            "-stream_loop",
            "-1",
            "-i",
            str(clip),
            "-t",
            str(seconds),
            "-c",
            "copy",
            "-f",
            "flv",
            f"rtmp://127.0.0.1:{port}/in/bench?token",
        ],
        check=True,
    )
    cpu1, wall1 = cpu_seconds(pid), time.monotonic()
    with av.open(str(clip)) as container:
        duration = container.duration / av.time_base
    return 100 * (cpu1 - cpu0) / (wall1 - wall0), size * 8 / duration / 1e6


def bench_headwater(seconds: float, loop: str, read_interval: float, clip: Path) -> float:
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), "--loop", loop, "--read-interval", str(read_interval)],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    try:
        wait_for_port(port)
        percent, mbits = publish_and_measure(child.pid, port, seconds, clip)
    finally:
        child.terminate()  # SIGTERM: a background job's children ignore SIGINT
        child.wait(10)
    print(
        f"headwater RtmpServer ({loop}, read interval {read_interval} s): {percent:5.2f} % of a core"
        f"  (clip ≈ {mbits:.1f} Mbit/s)"
    )
    return percent


def bench_nginx(seconds: float, clip: Path) -> float | None:
    if shutil.which("nginx") is None or not Path(NGINX_MODULE).exists():
        print("nginx-rtmp: not installed, skipped")
        return None
    port = free_port()
    with tempfile.TemporaryDirectory() as directory:
        conf = Path(directory) / "nginx.conf"
        conf.write_text(f"""
load_module {NGINX_MODULE};
daemon off;
master_process off;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 64; }}
rtmp {{ server {{ listen 127.0.0.1:{port}; application in {{ live on; }} }} }}
""")
        nginx = subprocess.Popen(["nginx", "-p", directory, "-c", str(conf)], stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port)
            percent, _ = publish_and_measure(nginx.pid, port, seconds, clip)
        finally:
            nginx.terminate()
            nginx.wait(10)
    print(f"nginx-rtmp (live on, no hls):  {percent:5.2f} % of a core")
    return percent


def serve(port: int, loop: str, read_interval: float) -> None:
    """Child process: RtmpServer with a sink that does the FLV wrapping the worker pipe needs."""
    from ingest.flv import flv_tag
    from ingest.rtmp import RtmpServer

    class FlvCountingSink:
        def __init__(self) -> None:
            self.bytes = 0

        def write(self, message) -> None:
            self.bytes += len(flv_tag(message))

        def close(self, reason: str) -> None:
            pass

    async def authorize(request):
        return FlvCountingSink()

    async def main() -> None:
        server = RtmpServer(authorize, read_interval=read_interval)
        await server.start("127.0.0.1", port)
        try:
            await asyncio.Event().wait()
        finally:
            await server.close()

    if loop == "uvloop":
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument(
        "--read-interval", type=float, default=Settings.model_fields["ingest_read_interval"].default
    )  # the node's
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    smoke.add_flag(parser)
    args = parser.parse_args()
    if args.serve:
        try:
            serve(args.serve, args.loop, args.read_interval)
        except KeyboardInterrupt:
            pass
        return
    if args.smoke:  # 2 s of a 2 s 360p clip each, in a temp directory
        with tempfile.TemporaryDirectory(prefix="bench-rtmp-") as work:
            clip = Path(work) / "rtmp_360p.flv"
            make_clip(clip, "{}x{}".format(*smoke.CLIP_SIZE), smoke.CLIP_SECONDS)
            compare(smoke.CLIP_SECONDS, args.loop, args.read_interval, clip)
        return
    make_clip()
    compare(args.seconds, args.loop, args.read_interval, CLIP)


def compare(seconds: float, loop: str, read_interval: float, clip: Path) -> None:
    ours = bench_headwater(seconds, loop, read_interval, clip)
    reference = bench_nginx(seconds, clip)
    if reference:
        print(f"ratio headwater / nginx-rtmp: {ours / reference:.2f}")


if __name__ == "__main__":
    main()
