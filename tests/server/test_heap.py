"""server/heap.py: the node's malloc arenas limited to two, freed memory trimmed off the loop."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from server.heap import HeapTrim
from tests.support.node import Node

# Eight threads each allocating (their own arena each under glibc's default), then glibc's
# own account of its arenas on stderr.
ARENAS = """
import ctypes, sys, threading
from server.heap import limit_arenas
if sys.argv[1] == "limited":
    assert limit_arenas()

def allocate():
    kept = [bytes(100_000) for _ in range(20)]
    barrier.wait()

barrier = threading.Barrier(8)
threads = [threading.Thread(target=allocate) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
ctypes.CDLL(None).malloc_stats()
"""

# A thread fills its arena with small blocks and frees all but one in 64: the free pages in
# between stay resident until a trim.
FRAGMENTS = """
import sys, threading
from server.heap import trimmer

def rss_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

kept = []
def fragment():
    blocks = [bytearray(4000) for _ in range(20_000)]
    kept.extend(blocks[::64])
    blocks.clear()

thread = threading.Thread(target=fragment)
thread.start()
thread.join()
before = rss_kib()
trimmed = trimmer()()
print(before - rss_kib(), trimmed)
"""


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    root = Path(__file__).resolve().parents[2]
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, check=True, cwd=root)


def test_limit_arenas_keeps_threads_in_two_arenas():
    def arenas(mode: str) -> int:
        return len(re.findall(r"^Arena \d+:", _run(ARENAS, mode).stderr, re.MULTILINE))

    assert arenas("plain") > 2  # glibc's default: an arena per thread, up to 8 per core
    assert arenas("limited") == 2


def test_trim_gives_back_what_a_thread_freed():
    released, trimmed = _run(FRAGMENTS).stdout.split()
    assert trimmed == "True"
    assert int(released) > 40_000  # KiB: most of the ~80 MB freed between the kept blocks


def test_the_trim_runs_off_the_loop_at_most_once_an_interval():
    loop_thread = threading.get_ident()
    trims: list[int] = []

    async def main() -> None:
        trim = HeapTrim(lambda: trims.append(threading.get_ident()), interval=60.0)
        trim.due(1000.0)  # the first tick only sets the time of the first trim
        await asyncio.sleep(0)
        assert trims == []
        for now in (1030.0, 1059.9, 1060.0, 1061.0, 1119.0):
            trim.due(now)
            await trim.close()
        assert len(trims) == 1
        trim.due(1120.0)
        await trim.close()

    asyncio.run(main())
    assert len(trims) == 2
    assert loop_thread not in trims


def test_a_trim_still_running_is_not_started_again():
    release = threading.Event()
    started: list[float] = []

    def slow() -> None:
        started.append(1)
        release.wait(10)

    async def main() -> None:
        trim = HeapTrim(slow, interval=1.0)
        trim.due(0.0)
        trim.due(1.0)
        for now in (2.0, 3.0, 4.0):
            await asyncio.sleep(0.05)
            trim.due(now)
        release.set()
        await trim.close()

    asyncio.run(main())
    assert len(started) == 1


def test_the_http_servers_tick_trims(monkeypatch):
    import uvicorn

    from server.http_server import HttpServer

    async def app(scope, receive, send):  # never called: the server is not started
        raise AssertionError

    trims: list[int] = []

    async def main() -> None:
        server = HttpServer(uvicorn.Config(app, log_level="warning"), 0.05, HeapTrim(lambda: trims.append(1), 0.1))
        ticks = 0

        async def on_tick(counter: int) -> bool:
            nonlocal ticks
            ticks += 1
            return ticks == 10

        server.on_tick = on_tick
        await asyncio.wait_for(server.main_loop(), 10)

    asyncio.run(main())
    assert len(trims) >= 2  # ~0.45 s of ticks, a trim each 0.1 s (HeapTrim's own tests: no more)


def _arenas(pid: int) -> int:
    """glibc's thread arenas in a process: each an anonymous heap at a 64 MiB-aligned address,
    its used part read-write and the rest of the 64 MiB reserved (no access)."""
    maps = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        match = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+) 00000000 00:00 0\s*$", line)
        if match:
            maps.append((int(match.group(1), 16), int(match.group(2), 16), match.group(3)))
    size = 64 << 20
    count = 0
    for index, (start, end, mode) in enumerate(maps):
        if mode != "rw-p" or start % size:
            continue
        rest = maps[index + 1] if index + 1 < len(maps) else None
        if end - start == size or (rest and rest[0] == end and rest[2] == "---p" and rest[1] == start + size):
            count += 1
    return count


def test_a_node_allocates_in_two_arenas_at_most(tmp_path):
    node = Node(tmp_path / "data").start()
    try:
        with httpx.Client(base_url=f"{node.base_url}/streaming", headers=node.headers) as api:
            for index in range(20):  # database threads and the executors allocate too
                assert api.post("/streams", json={"name": f"s{index}"}).status_code == 201
        assert _arenas(node.process.pid) <= 1  # the main arena is the [heap]
    finally:
        node.stop()
