"""One clock for every resting RTMP socket of a server (see `RtmpSession._rest`).

Publishers rest between reads so that each wake-up of the node takes a batch of frames. With
a timer per publisher, N publishers still wake the node N times per interval; with one shared
tick they wake it once, and every publisher's batch (and its pipe write to its worker) is
handled in that one turn of the loop. A socket that starts resting just before a tick rests
less than the interval, which only costs that batch some of its size.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class RestTicker:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._resting: list[Callable[[], None]] = []
        self._timer: asyncio.TimerHandle | None = None

    def rest(self, wake: Callable[[], None]) -> None:
        """Call `wake()` at the next tick."""
        self._resting.append(wake)
        if self._timer is None:
            loop = asyncio.get_running_loop()
            # on the loop clock's grid of `interval`: the stream watchdogs tick on it too
            self._timer = loop.call_later(self.interval - loop.time() % self.interval, self._tick)

    def _tick(self) -> None:
        self._timer = None
        resting, self._resting = self._resting, []
        for wake in resting:
            wake()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._resting = []
