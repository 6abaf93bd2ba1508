"""Media writes on a full disk: the DVR window gives up its oldest half and the write is tried
again, so the live edge goes on (issue 19).

A DVR window is most of what a stream keeps on disk (hours of segments), so when a media write
fails with ENOSPC the window is what gives way: it is halved (never below the short live
window), its oldest segments unlisted and deleted, and the write repeated. Writes are
repeatable as they are: a part goes at its offset of the segment file (`pwrite`), a whole file
is truncated first. The window stays at the smaller size (one warning says so) until the node
sends another (a stream update, the next worker). When nothing is left to give, the error goes
up as before (the worker exits and the node restarts it).
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger("headwater.packager")

T = TypeVar("T")
MakeRoom = Callable[[], bool]  # frees disk space now; False when it has nothing left to free


def no_room() -> bool:
    return False


def write_with_room(write: Callable[[], T], make_room: MakeRoom) -> T:
    """`write()`; after an ENOSPC, `make_room()` and `write()` again, while room was made."""
    while True:
        try:
            return write()
        except OSError as error:
            if error.errno != errno.ENOSPC or not make_room():
                raise


def shrunk_window(listed_seconds: float, floor_seconds: float) -> float | None:
    """The DVR window after a full disk: half of what is listed, not below `floor_seconds` (the
    live window); None when it cannot shrink."""
    if listed_seconds <= floor_seconds:
        return None
    return max(floor_seconds, listed_seconds / 2)
