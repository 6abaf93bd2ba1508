"""HttpServer: uvicorn's server ticking once a second, and stopping at once on a signal."""

from __future__ import annotations

import asyncio
import signal

import uvicorn

from server import http_server
from server.http_server import HttpServer


async def _app(scope, receive, send):  # never called: the server is not started
    raise AssertionError


def _server(tick: float = http_server.TICK) -> HttpServer:
    return HttpServer(uvicorn.Config(_app, log_level="warning"), tick)


async def test_ticks_once_a_second_with_the_date_header_refreshed():
    server = _server()
    counters: list[int] = []

    async def on_tick(counter: int) -> bool:
        counters.append(counter)
        return len(counters) == 3

    server.on_tick = on_tick
    await asyncio.wait_for(server.main_loop(), 10)
    # uvicorn refreshes the date header on every counter that is a multiple of 10
    assert counters == [0, 10, 20]


async def test_ticks_fall_on_the_loop_clocks_grid_of_the_tick():
    """Where the RTMP rest ticks fall too (the node passes a multiple of their interval)."""
    server = _server(tick=0.3)
    loop = asyncio.get_running_loop()
    phases: list[float] = []

    async def on_tick(counter: int) -> bool:
        if counter:
            phase = loop.time() % 0.3
            phases.append(min(phase, 0.3 - phase))
        return len(phases) == 3

    server.on_tick = on_tick
    await asyncio.wait_for(server.main_loop(), 10)
    assert max(phases) < 0.02


async def test_a_signal_ends_the_main_loop_without_waiting_for_the_tick():
    server = _server(tick=600.0)
    main = asyncio.create_task(server.main_loop())
    await asyncio.sleep(0.05)
    server.handle_exit(signal.SIGTERM, None)
    await asyncio.wait_for(main, 10)  # would take 600 s without the wake-up
    assert server.should_exit
