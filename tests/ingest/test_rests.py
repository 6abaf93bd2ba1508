"""RestTicker: every socket resting on a server wakes at one shared tick."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from ingest.rtmp.rests import RestTicker


def test_resting_sockets_wake_together_once():
    async def run():
        ticker = RestTicker(0.01)
        woken: list[tuple[str, int]] = []
        ticks = [0]

        def wake(name: str) -> None:
            woken.append((name, ticks[0]))

        original = ticker._tick

        def counted_tick() -> None:
            ticks[0] += 1
            original()

        ticker._tick = counted_tick
        for name in ("a", "b", "c"):
            ticker.rest(lambda name=name: wake(name))
        await asyncio.sleep(0.05)
        ticker.rest(lambda: wake("d"))  # a later rest gets the next tick
        await asyncio.sleep(0.05)
        return woken, ticks[0]

    woken, ticks = asyncio.run(run())
    assert woken == [("a", 1), ("b", 1), ("c", 1), ("d", 2)] and ticks == 2


def test_close_drops_pending_wakes():
    async def run():
        ticker = RestTicker(0.01)
        woken: list[int] = []
        ticker.rest(lambda: woken.append(1))
        ticker.close()
        await asyncio.sleep(0.03)
        return woken

    assert asyncio.run(run()) == []


def test_ticks_fall_on_the_loop_clock_grid(monkeypatch):
    """Two tickers of the same interval, started at different moments, ask the loop for the
    same grid point (so the node wakes once for both, and for the stream watchdogs on the same
    grid). How near that point the loop really wakes is a wall-clock figure, not a test's."""
    from ingest.rtmp import rests

    class Loop:  # a loop clock the test sets, and the wake-ups asked of it
        def __init__(self) -> None:
            self.now = 10.05
            self.asked: list[float] = []

        def time(self) -> float:
            return self.now

        def call_later(self, delay: float, callback) -> SimpleNamespace:
            self.asked.append(self.now + delay)
            return SimpleNamespace(cancel=lambda: None)

    loop = Loop()
    monkeypatch.setattr(rests.asyncio, "get_running_loop", lambda: loop)
    first, second = RestTicker(0.2), RestTicker(0.2)
    first.rest(lambda: None)
    loop.now = 10.13
    second.rest(lambda: None)
    assert loop.asked == [pytest.approx(10.2), pytest.approx(10.2)]


def test_a_busy_ticker_rests_at_most_the_busy_interval(monkeypatch):
    """Many publishers on one tick: a shorter rest, so their workers' burst ends sooner."""
    from ingest.rtmp import rests

    monkeypatch.setattr(rests, "BUSY_INTERVAL", 0.02)

    async def run():
        ticker = RestTicker(0.05)
        seen = [ticker.current_interval]
        for count in (rests.BUSY_PUBLISHERS + 1, 1):
            woken: list[int] = []
            for _ in range(count):
                ticker.rest(lambda woken=woken: woken.append(1))
            await asyncio.sleep(0.08)
            assert len(woken) == count
            seen.append(ticker.current_interval)
        return seen

    assert asyncio.run(run()) == [0.05, 0.02, 0.05]


def test_grid_delay_reaches_the_next_grid_point_and_skips_one_a_hair_away():
    from ingest.rtmp.rests import grid_delay

    assert grid_delay(10.05, 0.25) == pytest.approx(0.2)
    assert grid_delay(10.249, 0.25) == pytest.approx(0.251)  # just before a point: the next one
