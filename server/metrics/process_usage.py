"""CPU time and resident memory of the node's process and of its children, from /proc.

The workers' CPU is a counter that must never go back: workers come and go, so it is the
CPU of the children that have exited and been waited for (`RUSAGE_CHILDREN`) plus that of
the children running now.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Usage:
    cpu_seconds: float = 0.0
    rss_bytes: int = 0


def process_usage(pid: int | str = "self") -> Usage | None:
    """utime + stime and RSS of one process; None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    # fields[0] is field 3 (state): utime is field 14, stime 15, rss (pages) 24
    return Usage((int(fields[11]) + int(fields[12])) / CLOCK_TICKS, int(fields[21]) * PAGE_SIZE)


def children_of(pid: int | str = "self") -> list[int]:
    """The direct children of a process (every thread's list)."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def children_usage() -> Usage:
    """Every child's CPU since the node started (exited ones included) and the RSS of those running."""
    waited = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = Usage(waited.ru_utime + waited.ru_stime, 0)
    for child in children_of():
        usage = process_usage(child)
        if usage is not None:
            total.cpu_seconds += usage.cpu_seconds
            total.rss_bytes += usage.rss_bytes
    return total
