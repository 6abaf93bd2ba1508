"""Limits on what an HTTP client may hold of the node: time to send a request, size of a body.

uvicorn closes a keep-alive connection idle between two requests (`timeout_keep_alive`, the
node's `http_idle_timeout`), but nothing else: a connection that never sends a byte, or sends
its head one byte a second (slowloris), holds a socket and a protocol object for as long as it
likes, and a body is read whatever its size. `limited(protocol, ...)` adds, to whatever
uvicorn protocol class the node serves with:
- a request deadline: a new connection must start a request, and a started request must be
  whole (head and body), within `request_timeout` seconds; else the connection is closed. The
  clock stops once the request is read: a blocking playlist reload held by the node for
  seconds is answered, and only then does the idle timeout start;
- a body limit: more than `max_body` bytes (announced by Content-Length, or sent chunked)
  gets `413` and the connection is closed, before the app reads any of it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

REFUSAL = (
    b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s"
)


def limited(protocol: type[HttpToolsProtocol], request_timeout: float, max_body: int) -> type[HttpToolsProtocol]:
    """`protocol` with the request deadline and the body limit (see the module's docstring)."""
    return type(
        protocol.__name__, (RequestLimits, protocol), {"request_timeout": request_timeout, "max_body": max_body}
    )


class RequestLimits(HttpToolsProtocol):
    """Mixed in before a uvicorn httptools protocol class by `limited`."""

    request_timeout: float
    max_body: int
    _deadline: asyncio.TimerHandle | None = None
    _body_bytes = 0
    _refused = False  # this request got its 4xx: the parser's further callbacks are ignored

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._body_bytes = 0
        self._refused = False
        if self._deadline is None:
            self._arm()

    def on_headers_complete(self) -> None:
        announced = next((value for name, value in self.headers if name == b"content-length"), b"0")
        if announced.isdigit() and int(announced) > self.max_body:
            self._too_large()
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._refused:
            return
        self._body_bytes += len(body)
        if self._body_bytes > self.max_body:  # chunked: no Content-Length said so beforehand
            self._too_large()
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        if self._refused:  # the rest of a refused body has been read: now the client reads the 413
            self.transport.close()
            return
        super().on_message_complete()

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.request_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        """No whole request in time: silent or trickling. A response still being written
        (pipelining) goes out first: the request behind it is refused after it."""
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._refused:  # a refused body still coming after its deadline
            self.transport.close()
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False
            return
        self._answer(408, "Request Timeout", "the request did not arrive in time")
        self.transport.close()

    def _too_large(self) -> None:
        """413 now; the body is read on and dropped (until it ends or the request's deadline),
        as a client sends all of it before reading: closing at once would reset the
        connection under the answer."""
        self._refused = True
        if self._deadline is None:
            self._arm()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if self.pipeline or cycle.response_started:  # behind a response in progress
                self.transport.close()
                return
            # a chunked body: its app started with the head; it sees a disconnect, we answer
            cycle.disconnected = True
            cycle.message_event.set()
        self._answer(413, "Payload Too Large", f"request bodies are limited to {self.max_body} bytes")

    def _answer(self, status: int, reason: str, message: str) -> None:
        if not self.transport.is_closing():
            text = message.encode()
            self.transport.write(REFUSAL % (status, reason.encode(), len(text), text))
