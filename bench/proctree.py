"""CPU seconds used by a process and all its descendants, read from /proc (Linux)."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of each live pid (threads included)."""
    total = 0
    for pid in pids:
        if (fields := _stat(pid)) is not None:
            total += int(fields[11]) + int(fields[12])
    return total / TICKS


class TreeCpu:
    """CPU of `root`'s process tree between `start()` and `stop()` (children alive meanwhile)."""

    def __init__(self, roots: list[int], exclude=lambda pid: False) -> None:
        self.roots, self.exclude = roots, exclude

    def pids(self) -> list[int]:
        return [p for root in self.roots for p in descendants(root) if not self.exclude(p)]

    def start(self) -> None:
        self.tracked = self.pids()
        self.begin = cpu_seconds(self.tracked)

    def stop(self) -> float:
        return cpu_seconds(self.tracked) - self.begin
