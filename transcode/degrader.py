"""Shedding load on purpose when the machine cannot keep up with the ladder.

A transcoder that falls behind real time only falls further behind: latency grows until
players stall. So when its output runs slower than real time for `patience` seconds in a row
*while its encoders are the bottleneck* (the decoder waited on a full rendition queue), the
top rendition goes. A slow publisher also lowers the speed, but then the encoders idle, and
nothing is shed.
"""

from __future__ import annotations

WINDOW = 1.0  # seconds of wall time per measurement
SLOW_SPEED = 0.97  # below this a window counts as behind (a little slack for jitter)
BLOCKED_SHARE = 0.05  # share of the window the decoder spent waiting on encoders


class Degrader:
    def __init__(self, patience: float = 5.0) -> None:
        self.patience = patience
        self.window_start: float | None = None
        self.media_start: float | None = None
        self.blocked = 0.0
        self.behind_since: float | None = None
        self.last_speed: float | None = None

    def observe(self, wall: float, media: float | None, blocked: float = 0.0) -> bool:
        """Feed the wall clock, the output's media time and time spent blocked on encoders
        since the last call; True when it is time to shed a rendition."""
        self.blocked += blocked
        if media is None:
            return False
        if self.window_start is None or self.media_start is None:
            self.window_start, self.media_start = wall, media
            return False
        elapsed = wall - self.window_start
        if elapsed < WINDOW:
            return False
        self.last_speed = (media - self.media_start) / elapsed
        behind = self.last_speed < SLOW_SPEED and self.blocked >= BLOCKED_SHARE * elapsed
        self.window_start, self.media_start, self.blocked = wall, media, 0.0
        if not behind:
            self.behind_since = None
            return False
        if self.behind_since is None:
            self.behind_since = wall - elapsed
        if wall - self.behind_since >= self.patience:
            self.behind_since = None  # give the lighter ladder its own chance
            return True
        return False
