"""The worker's report channel to the node: one event per line on stdout, encoded by the
contract (`transcode/contract.py`; a packager's plain dict is checked against it first).

stdout belongs to events only; logs go to stderr. Writes are locked because jobs may
report from their own threads.

A pushed stream's worker batches: events sent on the main thread wait in a buffer until
`flush()`, which the worker calls once its input pipe is empty, before it waits for more, so
the node wakes once per batch of input instead of once per event. Events from other threads
flush at once.
"""

from __future__ import annotations

import os
import threading

from transcode.contract import Event, encode_event


class EventChannel:
    def __init__(self, fd: int = 1, *, batched: bool = False) -> None:
        self.fd = fd
        self.lock = threading.Lock()
        self.closed = False
        self.batched = batched
        self.owner = threading.get_ident()
        self.buffer: list[bytes] = []

    def send(self, event: Event | dict) -> None:
        line = encode_event(event)
        with self.lock:
            self.buffer.append(line)
            if not self.batched or threading.get_ident() != self.owner:
                self._write()

    def flush(self) -> None:
        with self.lock:
            self._write()

    def _write(self) -> None:
        data, self.buffer = b"".join(self.buffer), []
        if self.closed or not data:
            return
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view) :]
        except BrokenPipeError:
            self.closed = True  # the node went away; finish quietly
