"""HttpServer: uvicorn's server ticking once a second, and stopping at once on a signal."""

from __future__ import annotations

import asyncio
import signal

import pytest
import uvicorn

from ingest.rtmp.rests import grid_delay
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


async def test_each_tick_is_asked_for_on_the_loop_clocks_grid_of_the_tick(monkeypatch):
    """Where the RTMP rest ticks fall too (the node passes a multiple of their interval). How
    near the grid the wake-ups really land is a wall-clock figure: bench/wakeup_latency.py."""
    tick = 0.3
    wake_ups: list[float] = []  # loop clock times asked for, in ticks

    def recorded_grid_delay(now: float, interval: float) -> float:
        delay = grid_delay(now, interval)
        wake_ups.append((now + delay) / tick)
        return delay

    monkeypatch.setattr(http_server, "grid_delay", recorded_grid_delay)
    server = _server(tick)
    counters: list[int] = []

    async def on_tick(counter: int) -> bool:
        counters.append(counter)
        return len(counters) == 4

    server.on_tick = on_tick
    await asyncio.wait_for(server.main_loop(), 10)
    assert len(wake_ups) == 3
    assert wake_ups == [pytest.approx(round(point), abs=1e-6) for point in wake_ups]
    assert [round(point) for point in wake_ups] == sorted({round(point) for point in wake_ups})


async def test_a_signal_ends_the_main_loop_without_waiting_for_the_tick():
    server = _server(tick=600.0)
    main = asyncio.create_task(server.main_loop())
    await asyncio.sleep(0.05)
    server.handle_exit(signal.SIGTERM, None)
    await asyncio.wait_for(main, 10)  # would take 600 s without the wake-up
    assert server.should_exit
