"""A file sent on an HTTP connection without reading it into Python: `os.sendfile` from the
file to the connection's socket, the kernel copying page cache to socket buffer.

Old DVR segments are read by one viewer or a few, once each: reading them into the node's
memory (as the recent parts are, for the hundreds that ask for each) copied every byte
through Python and pushed the live edge out of the cache. asyncio's `loop.sendfile` would do
this, but the node runs on uvloop, which does not implement it (NotImplementedError; its
fallback reads the file in chunks through Python). So this module drives the socket itself:
the head and the file are written to the transport's socket descriptor, non-blocking, and
when the socket is full, a writer callback on a duplicate of it (uvloop and asyncio both
refuse a callback on a transport's own descriptor) goes on when it drains. Most segments fit
the socket's buffer at once: no duplicate, five system calls (open, fstat, write, sendfile,
close). The transport's own buffer is empty throughout (the caller checks), and
nothing else writes on the connection until `done` is called (the request cycle is not
complete: pipelined answers wait for it), so the bytes stay in order.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

SENDFILE = hasattr(os, "sendfile")


class FileSending:
    """`head`, then the `size` bytes of the open file `fd` (closed at the end), on the socket
    of `transport`; `done(ok)` once all is sent or the connection failed."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        transport: asyncio.Transport,
        head: bytes,
        fd: int,
        size: int,
        done: Callable[[bool], None],
    ) -> None:
        self.loop, self.head, self.fd, self.size, self.done = loop, head, fd, size, done
        self.out = transport.get_extra_info("socket").fileno()  # a duplicate once it must wait
        self.head_sent = self.offset = 0
        self.watching = False

    @staticmethod
    def possible(transport: asyncio.Transport) -> bool:
        """Whether this connection can take it now: sendfile exists, the transport is a
        socket's and has nothing of its own left to write."""
        return (
            SENDFILE
            and transport.get_extra_info("socket") is not None
            and transport.get_write_buffer_size() == 0
            and not transport.is_closing()
        )

    def start(self) -> None:
        self._step()

    def _step(self) -> None:
        try:
            while self.head_sent < len(self.head):
                self.head_sent += os.write(self.out, self.head[self.head_sent :])
            while self.offset < self.size:
                sent = os.sendfile(self.out, self.fd, self.offset, self.size - self.offset)
                if sent == 0:
                    raise OSError("the file is shorter than it was")
                self.offset += sent
        except BlockingIOError:
            if not self.watching:
                self.out = os.dup(self.out)
                self.loop.add_writer(self.out, self._step)
                self.watching = True
            return
        except OSError:
            self._finish(False)
            return
        self._finish(True)

    def _finish(self, ok: bool) -> None:
        if self.watching:
            self.loop.remove_writer(self.out)
            os.close(self.out)
        os.close(self.fd)
        self.done(ok)
