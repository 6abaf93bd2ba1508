"""The node's freed memory goes back to the kernel: two malloc arenas, trimmed often.

glibc's malloc keeps what a process frees for its next allocations: by itself it only gives
back the free top of a heap, not the free pages between blocks still in use, and it gives each
thread that allocates its own arena (up to eight per core; the node has libsrt's threads,
aiosqlite's connection threads, the executors'). So what a burst of publishes allocated stayed
resident after it ended (docs/architecture.md, "Fuzzing"). At start the node limits itself to
two arenas, as its workers do through MALLOC_ARENA_MAX, and every TRIM_INTERVAL seconds
`malloc_trim(0)` returns the free pages of every arena, in a thread off the event loop. The
workers keep their freed memory on purpose (`transcode/heap.py`); this is the node's process.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
from collections.abc import Callable

log = logging.getLogger("headwater.node")

M_ARENA_MAX = -8  # glibc <malloc.h>
ARENA_MAX = 2
TRIM_INTERVAL = 10.0  # seconds; a trim with little to give back is far under a millisecond


def _libc(name: str) -> ctypes._NamedFuncPointer | None:
    """A function of the process's own C library, None when it has none of that name."""
    try:
        return getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None


def limit_arenas(count: int = ARENA_MAX) -> bool:
    """Call before the node starts its threads; False (and a debug line) without glibc."""
    mallopt = _libc("mallopt")
    if mallopt is None:
        log.debug("no glibc mallopt: malloc arenas left as they are")
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_ARENA_MAX, count) == 1


def trimmer() -> Callable[[], bool] | None:
    """A function returning the free pages of every arena to the kernel (True when some were),
    None (and a debug line) without glibc's malloc_trim."""
    malloc_trim = _libc("malloc_trim")
    if malloc_trim is None:
        log.debug("no glibc malloc_trim: freed memory stays with the allocator")
        return None
    malloc_trim.argtypes, malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: malloc_trim(0) == 1


class HeapTrim:
    """Runs `trim` in a thread at most once every `interval` seconds of the loop clock, one
    at a time; `due` is called from a periodic task of the node (the HTTP server's tick)."""

    def __init__(self, trim: Callable[[], object], interval: float = TRIM_INTERVAL) -> None:
        self.trim = trim
        self.interval = interval
        self.next: float | None = None
        self.task: asyncio.Task | None = None

    def due(self, now: float) -> None:
        if self.next is None:
            self.next = now + self.interval
        elif now >= self.next and (self.task is None or self.task.done()):
            self.next = now + self.interval
            self.task = asyncio.ensure_future(asyncio.to_thread(self.trim))
            self.task.add_done_callback(_log_failure)

    async def close(self) -> None:
        if self.task is not None:
            await asyncio.gather(self.task, return_exceptions=True)


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("malloc_trim failed", exc_info=task.exception())
