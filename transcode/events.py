"""The worker's report channel to the node: one JSON object per line on stdout.

stdout belongs to events only; logs go to stderr. Writes are locked because jobs may
report from their own threads.
"""

from __future__ import annotations

import json
import os
import threading


class EventChannel:
    def __init__(self, fd: int = 1) -> None:
        self.fd = fd
        self.lock = threading.Lock()
        self.closed = False

    def send(self, event: dict) -> None:
        line = (json.dumps(event, separators=(",", ":")) + "\n").encode()
        with self.lock:
            if self.closed:
                return
            try:
                view = memoryview(line)
                while view:
                    view = view[os.write(self.fd, view):]
            except BrokenPipeError:
                self.closed = True  # the node went away; finish quietly
