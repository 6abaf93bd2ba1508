"""uvicorn's server, waking once a second instead of ten times while idle.

uvicorn's `Server.main_loop` sleeps 0.1 s between ticks, only to refresh the `date` header
once a second and to notice `should_exit`. On this kind of machine every wake-up of the
node's process costs far more than the tick itself (its caches are cold again after each
sleep), so those ten wake-ups a second were most of an idle node's CPU. Here the loop
ticks about once a second, on the loop clock's grid of `tick` (the node passes a multiple of
the RTMP rest tick, where the stream watchdogs also fall, so a busy node handles them all in
one wake-up), and a shutdown signal wakes it at once. The tick also starts the node's periodic
`malloc_trim` (`server/heap.py`) when one is due.
"""

from __future__ import annotations

import asyncio
from types import FrameType

import uvicorn

from ingest.rtmp.rests import grid_delay
from server.heap import HeapTrim

TICK = 1.0  # seconds between ticks by default: the date header's own resolution
TICKS_PER_UVICORN_SECOND = 10  # uvicorn refreshes the date header when counter % 10 == 0


class HttpServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, tick: float = TICK, heap_trim: HeapTrim | None = None) -> None:
        super().__init__(config)
        self.tick = tick
        self.heap_trim = heap_trim
        self._exit_requested: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._exit_requested = asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + TICKS_PER_UVICORN_SECOND) % 864000
            try:
                await asyncio.wait_for(self._exit_requested.wait(), grid_delay(self._loop.time(), self.tick))
            except TimeoutError:
                pass
            should_exit = await self.on_tick(counter)
            if self.heap_trim is not None:
                self.heap_trim.due(self._loop.time())
        if self.heap_trim is not None:
            await self.heap_trim.close()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Runs as a signal handler, between two bytecodes of the loop's thread: wake the
        main loop through the event loop's self-pipe."""
        super().handle_exit(sig, frame)
        if self._loop is not None and self._exit_requested is not None:
            self._loop.call_soon_threadsafe(self._exit_requested.set)


def run(
    app,
    tick: float = TICK,
    protocol: type | None = None,
    *,
    request_timeout: float = 10.0,
    max_body: int = 1 << 20,
    **options,
) -> None:
    """`uvicorn.run(app, **options)` with `HttpServer`; `protocol` is uvicorn's HTTP protocol
    class, by default one writing each response in one go (`server/one_write_http.py`), with
    the node's request deadline and body limit (`server/http_limits.py`)."""
    from server.heap import trimmer
    from server.http_limits import limited
    from server.one_write_http import OneWriteProtocol

    http = limited(protocol or OneWriteProtocol, request_timeout, max_body)
    trim = trimmer()
    heap_trim = HeapTrim(trim) if trim is not None else None
    HttpServer(uvicorn.Config(app, http=http, **options), tick, heap_trim).run()
