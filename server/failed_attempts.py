"""Failed attempts limited per source address: nobody guesses stream tokens or API keys at line rate.

One token bucket per (kind, address): `publish` (RTMP, RTMPS, SRT and WHIP share it: they
guess the same stream tokens) and `api` (API keys). Each failure takes a token; the bucket
holds `burst` and regains one every `refill` seconds. An address whose bucket is empty is
refused at once, before any check (RTMP `Denied`, SRT 1402, WHIP and API 429 with
Retry-After), until it regains a token; successes cost nothing, so a good publisher or key
from the same address works again as soon as the window has passed, and other addresses
are never affected. One log line per burst: when an address runs out, not per refusal.

Thread-safe (SRT's listen callback calls it on libsrt's thread) and bounded: at most
MAX_ADDRESSES buckets, the ones full again dropped first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("headwater.abuse")

MAX_ADDRESSES = 10_000
PUBLISH, API = "publish", "api"


@dataclass
class _Bucket:
    tokens: float
    updated: float
    last_attempt: str | None = None  # the same attempt seen again (SRT repeats its handshake) counts once
    blocked: bool = False


class FailedAttempts:
    def __init__(self, burst: int, refill: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self.refill = refill
        self._clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._lock = threading.Lock()

    def blocked(self, kind: str, address: str) -> bool:
        """Whether `address` must be refused at once for `kind` (it has failed too often)."""
        with self._lock:
            bucket = self._buckets.get((kind, address))
            if bucket is None:
                return False
            self._top_up(bucket)
            bucket.blocked = bucket.tokens < 1
            return bucket.blocked

    def failed(self, kind: str, address: str, attempt: str | None = None) -> None:
        """One failed attempt from `address` (`attempt` names it, e.g. the peer's ip:port)."""
        with self._lock:
            bucket = self._buckets.get((kind, address))
            if bucket is None:
                self._make_room()
                bucket = self._buckets[(kind, address)] = _Bucket(float(self.burst), self._clock())
            self._top_up(bucket)
            if attempt is not None and attempt == bucket.last_attempt:
                return
            bucket.last_attempt = attempt
            bucket.tokens = max(bucket.tokens - 1, 0.0)
            if bucket.tokens < 1 and not bucket.blocked:
                bucket.blocked = True
                log.warning(
                    "%s: %d failed %s attempts; refusing this address at once for %.0f s (one line per burst)",
                    address,
                    self.burst,
                    kind,
                    self.retry_after(kind, address, locked=True),
                )

    def retry_after(self, kind: str, address: str, *, locked: bool = False) -> float:
        """Seconds until `address` may try `kind` again (0: now)."""
        if not locked:
            with self._lock:
                return self.retry_after(kind, address, locked=True)
        bucket = self._buckets.get((kind, address))
        return 0.0 if bucket is None else max(0.0, (1 - bucket.tokens) * self.refill)

    def _top_up(self, bucket: _Bucket) -> None:
        now = self._clock()
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) / self.refill)
        bucket.updated = now

    def _make_room(self) -> None:
        if len(self._buckets) < MAX_ADDRESSES:
            return
        for key, bucket in list(self._buckets.items()):
            self._top_up(bucket)
            if bucket.tokens >= self.burst:
                del self._buckets[key]
        while len(self._buckets) >= MAX_ADDRESSES:  # all still counting: the oldest goes
            del self._buckets[next(iter(self._buckets))]


def address_of(peer: str) -> str:
    """The address of an 'ip:port' or '[ipv6]:port' peer text."""
    host, _, port = peer.rpartition(":")
    return host.strip("[]") if host and port.isdigit() else peer
