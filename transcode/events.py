"""The worker's report channel to the node: one event per line on stdout, encoded by the
contract (`transcode/contract.py`; a packager's plain dict is checked against it first).

stdout belongs to events only; logs go to stderr. Writes are locked because jobs may
report from their own threads.

A pushed stream's worker batches: events sent on the main thread wait in a buffer until
`flush()`, which the worker calls once its input pipe is empty, before it waits for more, so
the node wakes once per batch of input instead of once per event. Events from other threads
flush at once, and so does a buffer past FLUSH_BYTES: a worker catching up on a backlog (a
DVR window filled faster than real time) may not find its pipe empty for minutes, and held
its events (a long window's TS playlists and MPDs, whole) until it did: hundreds of MiB,
kept by the heap after.
"""

from __future__ import annotations

import os
import threading

from transcode.contract import Event, encode_event

FLUSH_BYTES = 1 << 20


class EventChannel:
    def __init__(self, fd: int = 1, *, batched: bool = False) -> None:
        self.fd = fd
        self.lock = threading.Lock()
        self.closed = False
        self.batched = batched
        self.owner = threading.get_ident()
        self.buffer: list[bytes] = []
        self.buffered = 0

    def send(self, event: Event | dict) -> None:
        line = encode_event(event)
        with self.lock:
            self.buffer.append(line)
            self.buffered += len(line)
            if not self.batched or threading.get_ident() != self.owner or self.buffered > FLUSH_BYTES:
                self._write()

    def flush(self) -> None:
        with self.lock:
            self._write()

    def _write(self) -> None:
        data, self.buffer, self.buffered = b"".join(self.buffer), [], 0
        if self.closed or not data:
            return
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view) :]
        except BrokenPipeError:
            self.closed = True  # the node went away; finish quietly
