"""Token buckets by key (server/token_buckets.py) and the worker starts they limit
(server/media/worker_starts.py), on a test clock."""

from __future__ import annotations

import logging

from server.media.worker_starts import WorkerStarts
from server.token_buckets import TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_starts_full_refills_over_time_and_never_beyond_its_burst():
    clock = Clock()
    buckets = TokenBuckets(burst=3, refill=10, limit=100, clock=clock)
    assert buckets.get("a") is None
    bucket = buckets.get_or_add("a")
    assert bucket.tokens == 3
    bucket.tokens = 0
    clock.now += 15
    assert buckets.get("a").tokens == 1.5 and buckets.wait(bucket) == 0
    bucket.tokens = 0.25
    assert buckets.wait(bucket) == 7.5
    clock.now += 1000
    assert buckets.get("a").tokens == 3


def test_room_is_made_from_full_buckets_first_then_the_oldest():
    clock = Clock()
    buckets = TokenBuckets(burst=2, refill=10, limit=3, clock=clock)
    for key in "abc":
        buckets.get_or_add(key).tokens = 0
    clock.now += 20
    buckets.get_or_add("a").tokens = 0  # refilled a and b; a drained again
    buckets.get("c").tokens = 0
    buckets.get_or_add("d")  # b is full: it goes
    assert buckets.get("b") is None and len(buckets) == 3
    buckets.get_or_add("e")  # d, untouched, is the full one now
    assert buckets.get("d") is None and buckets.get("a") is not None and len(buckets) == 3


def test_worker_starts_are_per_stream_with_one_log_line_per_burst(caplog):
    clock = Clock()
    starts = WorkerStarts(burst=2, refill=10, clock=clock)
    caplog.set_level(logging.WARNING, "headwater.supervisor")
    assert starts.take(1) and starts.take(1)
    assert not starts.take(1) and not starts.take(1)
    assert starts.take(2)  # another stream is not affected
    assert caplog.text.count("stream 1: 2 worker starts within 20 s") == 1
    clock.now += 10
    assert starts.take(1) and not starts.take(1)
    assert caplog.text.count("worker starts within") == 2  # a new burst, a new line
