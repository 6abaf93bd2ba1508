"""One clock for every resting RTMP socket of a server (see `RtmpSession._rest`).

Publishers rest between reads so that each wake-up of the node takes a batch of frames. With
a timer per publisher, N publishers still wake the node N times per interval; with one shared
tick they wake it once, and every publisher's batch (and its pipe write to its worker) is
handled in that one turn of the loop. A socket that starts resting just before a tick rests
less than the interval, which only costs that batch some of its size.

With many publishers the rest is shortened to at most BUSY_INTERVAL. Each tick then already
carries many streams' batches in one wake-up, so a longer rest saves next to no CPU, but
every worker gets its batch at the same instant and the last of them finishes its part that
much later. Measured with 30 streams (bench/stream_cost.py): CPU per stream 2.37, 2.33 and
2.42 % of a core at 0.2, 0.25 and 0.3 s, worst part lateness 0.36, 0.51 and 0.62 s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


def grid_delay(now: float, interval: float) -> float:
    """Seconds from `now` (the loop clock) to the next multiple of `interval`, for a periodic
    timer that should share the rest ticks' wake-ups. A timer may fire a hair before its
    grid point; then the point after the next one, so it does not run twice."""
    delay = interval - now % interval
    return delay if delay > interval / 10 else delay + interval


BUSY_PUBLISHERS = 16  # publishers woken by one tick, above which the rest is shortened
BUSY_INTERVAL = 0.2  # seconds: the longest rest of a busy ticker


class RestTicker:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._resting: list[Callable[[], None]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._last_woken = 0

    @property
    def current_interval(self) -> float:
        """The configured interval, or at most BUSY_INTERVAL while the last tick woke more
        than BUSY_PUBLISHERS sockets."""
        if self._last_woken > BUSY_PUBLISHERS:
            return min(self.interval, BUSY_INTERVAL)
        return self.interval

    def rest(self, wake: Callable[[], None]) -> None:
        """Call `wake()` at the next tick."""
        self._resting.append(wake)
        if self._timer is None:
            loop = asyncio.get_running_loop()
            # on the loop clock's grid of the interval: the stream watchdogs tick on it too
            interval = self.current_interval
            self._timer = loop.call_later(interval - loop.time() % interval, self._tick)

    def _tick(self) -> None:
        self._timer = None
        resting, self._resting = self._resting, []
        self._last_woken = len(resting)
        for wake in resting:
            wake()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._resting = []
