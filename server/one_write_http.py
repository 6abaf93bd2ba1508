"""uvicorn's httptools protocol, writing each response's head and body in one go.

uvicorn writes a response's status line and headers as soon as the app sends
`http.response.start`, then the body as a second write: two `send()` calls, two TCP segments
(the socket has TCP_NODELAY) and, on loopback or a CDN edge next door, two wake-ups of the
reader. Profiling the node while 500 LL-HLS clients followed one stream put the header write
alone at 14 % of its time, as much as the body's. Here the head waits for the first body
message and both leave in one `writelines`, which uvloop turns into one `writev`.

Only the writes change: uvicorn's own checks (content length, keep-alive, HEAD, chunked
bodies) run as before, on a transport that collects instead of sending.

It also offers the ASGI zero-copy send (`http.response.zerocopysend`: a file descriptor, an
offset, a count), which uvicorn does not: the VOD routes send recorded segments with it
(`sendfile(2)`, no copy through Python; uvloop has no `loop.sendfile`).
"""

from __future__ import annotations

import os

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

ZERO_COPY = "http.response.zerocopysend"  # the ASGI extension (asgiref's "Zero Copy Send")
COPIED_CHUNK = 256 * 1024  # what goes through the transport when the socket is full


class _Collector:
    """Stands in for the transport while uvicorn formats one message."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.close_requested = False

    def write(self, data: bytes) -> None:
        if data:
            self.parts.append(data)

    def close(self) -> None:
        self.close_requested = True


class OneWriteCycle(RequestResponseCycle):
    held_head: list[bytes] | None = None

    async def send(self, message) -> None:
        kind = message["type"]
        if kind == ZERO_COPY:
            return await self._send_file(message)
        if kind == "http.response.start" and not self.response_started:
            collector = _Collector()
            await self._format(message, collector)
            self.held_head = collector.parts
            return
        if kind == "http.response.body" and self.held_head is not None:
            head, self.held_head = self.held_head, None
            collector = _Collector()
            try:
                await self._format(message, collector)
            finally:  # whatever uvicorn formatted (or not) the head goes out
                if not self.disconnected:
                    self.transport.writelines(head + collector.parts)
                    if collector.close_requested:
                        self.transport.close()
            return
        await super().send(message)

    async def _send_file(self, message) -> None:
        """`count` bytes of `file` (a descriptor) from `offset`, with `sendfile(2)` while the
        socket takes them; when it is full, a chunk goes through the transport (uvloop has no
        `loop.sendfile`, and the socket's writability is uvloop's to watch), then sendfile again
        once the transport has written everything."""
        fd, offset, count = message["file"], message.get("offset", 0), message["count"]
        more_body = message.get("more_body", False)
        await self.send({"type": "http.response.body", "body": b"", "more_body": True})  # the head
        if self.chunked_encoding or self.scope["method"] == "HEAD" or count > self.expected_content_length:
            await self.send({"type": "http.response.body", "body": os.pread(fd, count, offset), "more_body": more_body})
            return
        self.expected_content_length -= count
        transport = self.transport
        socket = transport.get_extra_info("socket")
        while count > 0 and not self.disconnected:
            sent = 0
            if transport.get_write_buffer_size() == 0:
                try:
                    sent = os.sendfile(socket.fileno(), fd, offset, count)
                except BlockingIOError:
                    sent = 0
                except OSError:
                    return  # the connection is gone; uvicorn sees it lost
            if not sent:
                chunk = os.pread(fd, min(count, COPIED_CHUNK), offset)
                if not chunk:
                    raise RuntimeError("file shorter than the count to send")
                transport.write(chunk)
                sent = len(chunk)
                if self.flow.write_paused:
                    await self.flow.drain()
            offset += sent
            count -= sent
        await super().send({"type": "http.response.body", "body": b"", "more_body": more_body})

    async def _format(self, message, collector: _Collector) -> None:
        transport, self.transport = self.transport, collector
        try:
            await super().send(message)
        finally:
            self.transport = transport


class OneWriteProtocol(HttpToolsProtocol):
    """HttpToolsProtocol whose request cycles are `OneWriteCycle`s."""

    def on_headers_complete(self) -> None:
        self.scope["extensions"] = {**self.scope.get("extensions", {}), ZERO_COPY: {}}
        super().on_headers_complete()
        if type(self.cycle) is RequestResponseCycle:  # created just now; its task has not run yet
            self.cycle.__class__ = OneWriteCycle
