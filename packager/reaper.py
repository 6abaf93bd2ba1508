"""Deleting expired media files off the packaging thread.

On a filesystem mounted with `discard` (the default of many cloud images, and of this
machine's), unlinking a file whose blocks have reached the disk sends the TRIM before
`unlink` returns: 1.6 ms on an idle disk, 100–375 ms while 30 streams write theirs. The
worker's packaging thread stood still that long at each segment boundary, holding back the
part it had just finished (30 streams: parts reached viewers up to 0.6 s late). A worker
hands its expired paths to one thread instead, which deletes them in order.
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path

from packager.atomic import remove_quietly

log = logging.getLogger("headwater.packager")

_STOP = None


class Reaper:
    """`remove(path)` returns at once; the file is gone soon after. `close()` waits until
    every path handed over is deleted."""

    def __init__(self) -> None:
        self._paths: queue.SimpleQueue[Path | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def remove(self, path: Path) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="reaper", daemon=True)
            self._thread.start()
        self._paths.put(path)

    def close(self) -> None:
        if self._thread is not None:
            self._paths.put(_STOP)
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while (path := self._paths.get()) is not _STOP:
            try:
                remove_quietly(path)
            except OSError as error:  # the next segment must not depend on an old one's fate
                log.warning("could not delete %s: %s", path, error)
