"""A local webhook receiver for tests and bench/webhook_drain.py: a bare asyncio HTTP/1.1
server (keep-alive, Content-Length bodies) that keeps every request in arrival order and
answers what `answer(request)` says (200 by default). Stopped and started again on the same
port, it plays a receiver that is down for a while."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.support.ports import free_port


@dataclass
class Received:
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def event_id(self) -> int:
        return int(self.headers["x-headwater-event-id"])


class WebhookReceiver:
    def __init__(self, port: int | None = None, answer: Callable[[Received], int] | None = None) -> None:
        self.port = port or free_port()
        self.answer = answer or (lambda _request: 200)
        self.received: list[Received] = []  # every request that got a 2xx, in order
        self.refused = 0  # requests answered otherwise
        self.server: asyncio.Server | None = None
        self.connections: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)

    async def stop(self) -> None:
        """Down: the port refuses connections and open ones are cut."""
        if self.server is not None:
            self.server.close()
            for writer in list(self.connections):
                writer.close()
            await self.server.wait_closed()
            self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Received(headers, body)
                status = self.answer(request)
                if 200 <= status < 300:
                    self.received.append(request)
                else:
                    self.refused += 1
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self.connections.discard(writer)
            writer.close()


class ThreadedReceiver:
    """The receiver on a loop of its own thread, for tests that are not async (a node in a
    subprocess posts to it)."""

    def __init__(self, answer: Callable[[Received], int] | None = None) -> None:
        self.receiver = WebhookReceiver(answer=answer)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return self.receiver.url

    @property
    def received(self) -> list[Received]:
        return list(self.receiver.received)

    def start(self) -> None:
        asyncio.run_coroutine_threadsafe(self.receiver.start(), self.loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.receiver.stop(), self.loop).result(10)

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
