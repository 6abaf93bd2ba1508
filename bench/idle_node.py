"""What an idle node costs, per thread: CPU % of each thread of `headwater serve` with no
client at all, against the same node with its SRT listener left out (the reference).

    python -m bench.idle_node [--seconds 20] [--no-reference] [--smoke]

Threads are told apart by their kernel name (`comm`): libsrt names its own (`SRT:RcvQ:w1`,
`SRT:SndQ:w1`, `SRT:GC`), the SRT listener names its threads `srt-*`; the rest are `python`.
CPU comes from /proc/<pid>/task/<tid>/schedstat (nanoseconds), /stat ticks as a fallback.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench import smoke
from tests.support.node import Node

SETTLE = 3.0
TICKS = os.sysconf("SC_CLK_TCK")

# imported by the reference node's interpreter (PYTHONPATH): SrtServer listens on nothing
NO_SRT = """
from ingest.srt.server import SrtServer

async def _start(self, host, port):
    pass

SrtServer.start = _start
"""


def thread_cpu(pid: int) -> dict[tuple[int, str], float]:
    """CPU seconds so far of each live thread of `pid`, keyed by (tid, name)."""
    found = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        task = Path(f"/proc/{pid}/task/{tid}")
        try:
            name = (task / "comm").read_text().strip()
            try:
                seconds = int((task / "schedstat").read_text().split()[0]) / 1e9
            except (OSError, ValueError, IndexError):
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                seconds = (int(fields[11]) + int(fields[12])) / TICKS
        except OSError:
            continue  # the thread ended meanwhile
        found[(int(tid), name)] = seconds
    return found


def measure(node: Node, seconds: float, settle: float) -> tuple[list[tuple[str, int, float]], float]:
    """(name, tid, CPU %) per thread, busiest first, and the whole process's CPU %."""
    pid = node.process.pid
    time.sleep(settle)
    before, started = thread_cpu(pid), time.monotonic()
    time.sleep(seconds)
    after, elapsed = thread_cpu(pid), time.monotonic() - started
    rows = [(name, tid, 100 * (used - before.get((tid, name), 0.0)) / elapsed) for (tid, name), used in after.items()]
    rows.sort(key=lambda row: -row[2])
    return rows, sum(row[2] for row in rows)


def run(label: str, seconds: float, settle: float, env: dict | None = None) -> float:
    with tempfile.TemporaryDirectory(prefix="headwater-idle-") as directory:
        node = Node(Path(directory) / "node", env=env).start()
        try:
            print(f"pid {node.process.pid}: {label}")
            rows, total = measure(node, seconds, settle)
        finally:
            node.stop()
    for name, tid, percent in rows:
        if percent >= 0.01:
            print(f"  {name:<16} {tid:>8} {percent:6.2f} %")
    quiet = sum(1 for row in rows if row[2] < 0.01)
    print(f"  ({quiet} more threads under 0.01 %)")
    print(f"  whole process      {total:6.2f} % of a core over {seconds:.0f} s")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--no-reference", action="store_true", help="skip the node without SRT")
    smoke.add_flag(parser)
    args = parser.parse_args()
    settle = SETTLE
    if args.smoke:
        args.seconds, settle = 1.0, 0.5
    with_srt = run("idle node", args.seconds, settle)
    if args.no_reference:
        return
    with tempfile.TemporaryDirectory(prefix="headwater-nosrt-") as shim:
        Path(shim, "sitecustomize.py").write_text(NO_SRT)
        path = os.pathsep.join(filter(None, [shim, os.getcwd(), os.environ.get("PYTHONPATH")]))
        without = run(
            "reference: the same node without its SRT listener", args.seconds, settle, env={"PYTHONPATH": path}
        )
    print(
        f"idle node / node without SRT: {with_srt:.2f} % / {without:.2f} % = {with_srt / without:.2f}"
        if without
        else "reference used no CPU"
    )


if __name__ == "__main__":
    main()
