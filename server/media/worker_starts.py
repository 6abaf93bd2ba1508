"""Worker starts limited per stream: a publisher that reconnects in a loop cannot starve the others.

Every publication (and every restart after a crash) costs the node a worker process: a spawn,
PyAV's imports, a demuxer, which is most of a core for a moment. An encoder that drops and comes
back a few times is normal; one that reconnects several times a second with valid credentials
(a broken encoder, a script, a fuzzer) would take the CPU the other streams' workers need. So
each stream has a token bucket of starts: `burst` at once, one more every `refill` seconds. A
push publisher that reaches a keyframe while its stream's bucket is empty stays connected, and
its worker starts at the first keyframe after a token is back (so a legitimate encoder loses a
few seconds at most, never its connection). One log line per stream when its bucket runs out.

Used on the event loop only (`PushSession`), so no lock; bounded (`server/token_buckets.py`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from server.token_buckets import TokenBuckets

log = logging.getLogger("headwater.supervisor")

MAX_STREAMS = 10_000


class WorkerStarts:
    def __init__(self, burst: int, refill: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets = TokenBuckets(burst, refill, MAX_STREAMS, clock)

    def take(self, stream_id: int) -> bool:
        """Whether `stream_id` may start a worker now (and if so, that start is counted)."""
        bucket = self._buckets.get_or_add(stream_id)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            bucket.ran_out = False
            return True
        if not bucket.ran_out:
            bucket.ran_out = True
            log.warning(
                "stream %s: %d worker starts within %.0f s; the next waits for a keyframe %.0f s on "
                "(the publisher stays connected; one line per burst)",
                stream_id,
                self._buckets.burst,
                self._buckets.burst * self._buckets.refill,
                self._buckets.wait(bucket),
            )
        return False
