"""How soon the node's loops and listeners act when they should: HttpServer's ticks against the
loop clock's grid, a shutdown signal to the end of HttpServer's main loop, SrtServer.close() idle
and with a publisher sending, and an SRT pull that nobody answers giving up after its timeouts.

These are wall-clock figures, so they are measured here and never asserted in the tests (a
shared machine makes any bound flaky): tests/server/test_http_server.py,
tests/ingest/test_srt_server.py and tests/server/test_pull_rotation.py check the same behaviour
without a stopwatch. Each line names the bound those tests used to assert, for comparison.

    python -m bench.wakeup_latency [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import statistics
import time

import uvicorn

from bench import smoke
from ingest.publish import PublishRejected, PublishRequest
from ingest.srt.server import SrtServer
from server.http_server import HttpServer
from tests.support.ports import free_port

GRID_TICK = 0.3  # seconds: short, so a run sees many ticks
NEVER_TICK = 600.0  # a tick the shutdown must not wait for
STREAM_ID = "in/7/token"
PUBLISHER = (
    "ffmpeg -hide_banner -loglevel error -nostdin -re -f lavfi -i testsrc2=size=160x120:rate=25 -t 60"
    " -c:v libx264 -preset ultrafast -f mpegts"
)


async def _no_app(scope, receive, send) -> None:  # the server is never started
    raise AssertionError


def _http_server(tick: float) -> HttpServer:
    return HttpServer(uvicorn.Config(_no_app, log_level="warning"), tick)


async def tick_offsets(ticks: int) -> list[float]:
    """Seconds between each tick and the nearest point of the loop clock's grid."""
    server = _http_server(GRID_TICK)
    loop = asyncio.get_running_loop()
    offsets: list[float] = []

    async def on_tick(counter: int) -> bool:
        if counter:
            phase = loop.time() % GRID_TICK
            offsets.append(min(phase, GRID_TICK - phase))
        return len(offsets) == ticks

    server.on_tick = on_tick  # type: ignore[method-assign]
    await server.main_loop()
    return offsets


async def shutdown_delay() -> float:
    """Seconds from a SIGTERM to the end of a main loop that would otherwise sleep 600 s."""
    server = _http_server(NEVER_TICK)
    main = asyncio.create_task(server.main_loop())
    await asyncio.sleep(0.05)
    started = time.monotonic()
    server.handle_exit(signal.SIGTERM, None)
    await asyncio.wait_for(main, 30)
    return time.monotonic() - started


class _Sink:
    def __init__(self) -> None:
        self.received = 0

    def write(self, data: bytes) -> None:
        self.received += len(data)

    def close(self, reason: str) -> None:
        pass


class _Node:
    """Accepts STREAM_ID, as the supervisor would, and counts what arrives."""

    def __init__(self) -> None:
        self.sinks: list[_Sink] = []

    def vet(self, request: PublishRequest) -> None:
        if f"{request.app}/{request.name}/{request.query}" != STREAM_ID:
            raise PublishRejected("unknown stream", unknown_stream=True)

    async def authorize(self, request: PublishRequest) -> _Sink:
        self.sinks.append(_Sink())
        return self.sinks[-1]


async def _publisher(port: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *PUBLISHER.split(),
        f"srt://127.0.0.1:{port}?streamid={STREAM_ID}",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def srt_close_delay(with_publisher: bool) -> float:
    """Seconds SrtServer.close() takes, idle or while a publisher is sending."""
    node = _Node()
    server = SrtServer(node.vet, node.authorize)
    await server.start("127.0.0.1", free_port(socket.SOCK_DGRAM))
    process = None
    try:
        if with_publisher:
            process = await _publisher(server.port)
            deadline = time.monotonic() + 30
            while not (node.sinks and node.sinks[0].received):
                if time.monotonic() > deadline:
                    raise RuntimeError("the SRT publisher sent nothing in 30 s")
                await asyncio.sleep(0.1)
        started = time.monotonic()
        await asyncio.wait_for(server.close(), 30)
        return time.monotonic() - started
    finally:
        if process is not None:
            if process.returncode is None:
                process.kill()
            await process.wait()


def srt_pull_give_up() -> float:
    """Seconds an SRT pull nobody answers takes to fail, with 1 s open and read timeouts."""
    from ingest.pull.srt import open_srt

    started = time.monotonic()
    try:
        open_srt(f"srt://127.0.0.1:{free_port(socket.SOCK_DGRAM)}", 1, 1)
    except ValueError:
        return time.monotonic() - started
    raise RuntimeError("an SRT pull of a port nobody listens on opened")


def report(what: str, values: list[float], note: str) -> None:
    print(f"{what:<45}: median {1000 * statistics.median(values):7.1f} ms, max {1000 * max(values):7.1f} ms  ({note})")


async def measure(runs: int, ticks: int) -> None:
    offsets = await tick_offsets(ticks)
    report(
        f"HttpServer ticks ({GRID_TICK} s), off the grid by",
        offsets,
        f"{len(offsets)} ticks; the tests asserted < 20 ms",
    )
    delays = [await shutdown_delay() for _ in range(runs)]
    report(f"HttpServer SIGTERM to loop end (tick {NEVER_TICK:g} s)", delays, f"{runs} runs")
    idle = [await srt_close_delay(with_publisher=False) for _ in range(runs)]
    report("SrtServer.close(), idle", idle, f"{runs} runs; asserted < 2.5 s")
    busy = [await srt_close_delay(with_publisher=True) for _ in range(runs)]
    report("SrtServer.close(), one publisher sending", busy, f"{runs} runs; asserted < 2.5 s")
    pulls = [await asyncio.to_thread(srt_pull_give_up) for _ in range(runs)]
    report("SRT pull nobody answers (1 s + 1 s timeouts)", pulls, f"{runs} runs; asserted < 5 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    smoke.add_flag(parser)
    args = parser.parse_args()
    runs, ticks = (1, 3) if args.smoke else (10, 30)
    asyncio.run(measure(runs, ticks))


if __name__ == "__main__":
    main()
