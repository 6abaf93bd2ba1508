"""uvicorn's httptools protocol, writing each response's head and body in one go.

uvicorn writes a response's status line and headers as soon as the app sends
`http.response.start`, then the body as a second write: two `send()` calls, two TCP segments
(the socket has TCP_NODELAY) and, on loopback or a CDN edge next door, two wake-ups of the
reader. Profiling the node while 500 LL-HLS clients followed one stream put the header write
alone at 14 % of its time, as much as the body's. Here the head waits for the first body
message and both leave in one `writelines`, which uvloop turns into one `writev`.

Only the writes change: uvicorn's own checks (content length, keep-alive, HEAD, chunked
bodies) run as before, on a transport that collects instead of sending.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle


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

    async def _format(self, message, collector: _Collector) -> None:
        transport, self.transport = self.transport, collector
        try:
            await super().send(message)
        finally:
            self.transport = transport


class OneWriteProtocol(HttpToolsProtocol):
    """HttpToolsProtocol whose request cycles are `OneWriteCycle`s."""

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if type(self.cycle) is RequestResponseCycle:  # created just now; its task has not run yet
            self.cycle.__class__ = OneWriteCycle
