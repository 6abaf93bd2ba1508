"""Slow filesystem calls of a worker, off its packaging thread: deleting expired media and
writing the on-disk copies of playlists and manifests.

Both can stall for far longer than a part's slack on an ordinary disk, and the packaging
thread must not wait for them:
- On a filesystem mounted with `discard` (the default of many cloud images, and of this
  machine's), unlinking a file whose blocks reached the disk sends the TRIM before `unlink`
  returns: 1.6 ms on an idle disk, 100–375 ms while 30 streams write theirs.
- Renaming a playlist into place looks its directory up, and waits while writeback has that
  directory's block locked: 40–100 ms at 30 streams, every worker at once.
At every segment boundary the thread stood still that long with a finished part not yet
reported (30 streams: parts reached viewers up to 0.6 s late).

Nothing a viewer waits on depends on these calls: the node serves playlists from the text in
the worker's events, and stops serving an expired file before it is deleted. Media files are
still written on the packaging thread, since the node reads them once announced. One thread
does the calls in the order given, so a path's writes land in order; `close()` waits for all.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from packager.atomic import remove_quietly, write_atomic

log = logging.getLogger("headwater.packager")

_STOP = None

_Call = tuple[str, Callable[..., object], Path, tuple[Any, ...]]  # (verb for the log, function, path, more arguments)


class FileThread:
    """`remove(path)` and `write_atomic(path, data)` return at once; the calls run soon
    after, in order, on the thread. A failed call is logged: the next must not depend on it."""

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def remove(self, path: Path) -> None:
        self._put("delete", remove_quietly, path)

    def write_atomic(self, path: Path, data: bytes | str) -> None:
        self._put("write", write_atomic, path, data)

    def write_made(self, path: Path, make: Callable[[], bytes | None]) -> None:
        """Write what `make()` returns (nothing if None), both on the thread: for files whose
        bytes cost time to make (a screenshot's decode and JPEG)."""
        self._put("make and write", _write_made, path, make)

    def call(self, job: Callable[[], object]) -> None:
        """Run `job()` on the thread, in order with the rest (a recorder's copies and syncs)."""
        self._put("run a job for", lambda _path: job(), Path())

    def drain(self) -> None:
        """Wait until every call queued so far has run (a full disk waits for its deletions)."""
        if self._thread is not None:
            done = threading.Event()
            self._put("signal", lambda _path: done.set(), Path())
            done.wait()

    def close(self) -> None:
        if self._thread is not None:
            self._calls.put(_STOP)
            self._thread.join()
            self._thread = None

    def _put(self, verb: str, function: Callable[..., object], path: Path, *args: Any) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="files", daemon=True)
            self._thread.start()
        self._calls.put((verb, function, path, args))

    def _run(self) -> None:
        while (call := self._calls.get()) is not _STOP:
            verb, function, path, args = call
            try:
                function(path, *args)
            except OSError as error:
                log.warning("could not %s %s: %s", verb, path, error)
            except Exception:  # a bug in a maker must not stop the deletions behind it
                log.exception("could not %s %s", verb, path)


def _write_made(path: Path, make: Callable[[], bytes | None]) -> None:
    data = make()
    if data is not None:
        write_atomic(path, data)
