"""The threads the SRT ingest runs on, seen from outside: their kernel names and the one way
they hand work to the event loop.

Threads that block inside libsrt (accept, one reader per caller, the port's) get kernel names so
per-thread CPU can be told apart (top, /proc/*/task/*/comm). They never touch asyncio objects
themselves: they schedule a callback on the loop, and a loop that is already closed means nobody
is left to tell.
"""

from __future__ import annotations

import asyncio
import ctypes
from collections.abc import Callable
from typing import Any

PR_SET_NAME = 15  # prctl: the kernel's name for the calling thread (top, /proc/*/task/*/comm)

_libc = ctypes.CDLL(None, use_errno=True)


def name_native_thread(name: str) -> None:
    """Give the calling thread a kernel name (15 bytes at most), so per-thread CPU can be told apart."""
    try:
        _libc.prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)
    except (AttributeError, OSError):
        pass


def call_on_loop(loop: asyncio.AbstractEventLoop, callback: Callable[..., Any], *args: Any) -> None:
    """`callback(*args)` on the loop, from any thread; nothing when the loop is closed."""
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:  # the loop is closed: nobody is left to tell
        pass
