"""Token buckets by key, bounded: the arithmetic behind the node's rate limits.

Each key's bucket holds at most `burst` tokens and regains one every `refill` seconds; a new
key starts full. At most `limit` keys are kept: when a new one needs room, the buckets that are
full again are dropped first (they hold nothing a new bucket would not), then the oldest.
Users: `server/failed_attempts.py` (failures per address) and `server/media/worker_starts.py`
(worker starts per stream). Not thread-safe by itself: a user on several threads locks around it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass
class Bucket:
    tokens: float
    updated: float
    ran_out: bool = False  # its user has logged that it ran out (one line per burst)
    last_attempt: str | None = None  # for a user that counts a repeated attempt once


class TokenBuckets:
    def __init__(self, burst: int, refill: float, limit: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self.refill = refill
        self.limit = limit
        self._clock = clock
        self._buckets: dict[Hashable, Bucket] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def get(self, key: Hashable) -> Bucket | None:
        """`key`'s bucket as of now, or None if it has none (it is full)."""
        bucket = self._buckets.get(key)
        if bucket is not None:
            self._top_up(bucket)
        return bucket

    def get_or_add(self, key: Hashable) -> Bucket:
        """`key`'s bucket as of now; a new, full one if it had none."""
        bucket = self.get(key)
        if bucket is None:
            self._make_room()
            bucket = self._buckets[key] = Bucket(float(self.burst), self._clock())
        return bucket

    def wait(self, bucket: Bucket) -> float:
        """Seconds until `bucket` holds a whole token again (0: it does)."""
        return max(0.0, (1 - bucket.tokens) * self.refill)

    def _top_up(self, bucket: Bucket) -> None:
        now = self._clock()
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) / self.refill)
        bucket.updated = now

    def _make_room(self) -> None:
        if len(self._buckets) < self.limit:
            return
        for key, bucket in list(self._buckets.items()):
            self._top_up(bucket)
            if bucket.tokens >= self.burst:
                del self._buckets[key]
        while len(self._buckets) >= self.limit:  # all still counting: the oldest goes
            del self._buckets[next(iter(self._buckets))]
