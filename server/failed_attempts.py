"""Failed attempts limited per source address: nobody guesses stream tokens or API keys at line rate.

One token bucket per (kind, address): `publish` (RTMP, RTMPS, SRT and WHIP share it: they
guess the same stream tokens) and `api` (API keys). Each failure takes a token; the bucket
holds `burst` and regains one every `refill` seconds. An address whose bucket is empty is
refused at once, before any check (RTMP `Denied`, SRT 1402, WHIP and API 429 with
Retry-After), until it regains a token; successes cost nothing, so a good publisher or key
from the same address works again as soon as the window has passed, and other addresses
are never affected. One log line per burst: when an address runs out, not per refusal.

Thread-safe (SRT's listen callback calls it on libsrt's thread) and bounded: at most
MAX_ADDRESSES buckets (`server/token_buckets.py`), the ones full again dropped first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from server.token_buckets import TokenBuckets

log = logging.getLogger("headwater.abuse")

MAX_ADDRESSES = 10_000
PUBLISH, API = "publish", "api"


class FailedAttempts:
    def __init__(self, burst: int, refill: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets = TokenBuckets(burst, refill, MAX_ADDRESSES, clock)
        self._lock = threading.Lock()

    def blocked(self, kind: str, address: str) -> bool:
        """Whether `address` must be refused at once for `kind` (it has failed too often)."""
        with self._lock:
            bucket = self._buckets.get((kind, address))
            if bucket is None:
                return False
            bucket.ran_out = bucket.tokens < 1
            return bucket.ran_out

    def failed(self, kind: str, address: str, attempt: str | None = None) -> None:
        """One failed attempt from `address` (`attempt` names it, e.g. the peer's ip:port)."""
        with self._lock:
            bucket = self._buckets.get_or_add((kind, address))
            if attempt is not None and attempt == bucket.last_attempt:
                return
            bucket.last_attempt = attempt
            bucket.tokens = max(bucket.tokens - 1, 0.0)
            if bucket.tokens < 1 and not bucket.ran_out:
                bucket.ran_out = True
                log.warning(
                    "%s: %d failed %s attempts; refusing this address at once for %.0f s (one line per burst)",
                    address,
                    self._buckets.burst,
                    kind,
                    self._buckets.wait(bucket),
                )

    def retry_after(self, kind: str, address: str) -> float:
        """Seconds until `address` may try `kind` again (0: now)."""
        with self._lock:
            bucket = self._buckets.get((kind, address))
            return 0.0 if bucket is None else self._buckets.wait(bucket)


def address_of(peer: str) -> str:
    """The address of an 'ip:port' or '[ipv6]:port' peer text."""
    host, _, port = peer.rpartition(":")
    return host.strip("[]") if host and port.isdigit() else peer
