"""The per-address allowance of failed attempts (server/failed_attempts.py), on a test clock."""

from __future__ import annotations

import logging

from server import failed_attempts
from server.failed_attempts import API, PUBLISH, FailedAttempts, address_of


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_blocks_that_address_and_kind_only_until_it_regains_an_attempt(caplog):
    clock = Clock()
    limits = FailedAttempts(burst=3, refill=10, clock=clock)
    caplog.set_level(logging.WARNING, "headwater.abuse")
    for port in range(3):
        assert not limits.blocked(PUBLISH, "203.0.113.5")
        limits.failed(PUBLISH, "203.0.113.5", f"203.0.113.5:{port}")
    assert limits.blocked(PUBLISH, "203.0.113.5")
    assert not limits.blocked(API, "203.0.113.5") and not limits.blocked(PUBLISH, "203.0.113.6")
    assert limits.retry_after(PUBLISH, "203.0.113.5") == 10
    limits.failed(PUBLISH, "203.0.113.5", "203.0.113.5:9")  # one more while refused: still one line
    assert len(caplog.records) == 1 and "203.0.113.5: 3 failed publish attempts" in caplog.text
    clock.now += 10
    assert not limits.blocked(PUBLISH, "203.0.113.5")  # one attempt regained
    limits.failed(PUBLISH, "203.0.113.5", "203.0.113.5:10")
    assert limits.blocked(PUBLISH, "203.0.113.5") and len(caplog.records) == 2  # a new burst, a new line


def test_the_same_attempt_repeated_counts_once():
    limits = FailedAttempts(burst=2, refill=10, clock=Clock())
    for _ in range(5):  # SRT resends its handshake: one caller, one failure
        limits.failed(PUBLISH, "198.51.100.1", "198.51.100.1:4000")
    assert not limits.blocked(PUBLISH, "198.51.100.1")


def test_buckets_stay_bounded(monkeypatch):
    monkeypatch.setattr(failed_attempts, "MAX_ADDRESSES", 50)
    limits = FailedAttempts(burst=2, refill=1, clock=Clock())
    for n in range(200):
        limits.failed(API, f"10.0.{n // 256}.{n % 256}")
    assert len(limits._buckets) <= 50


def test_addresses_of_peers():
    assert address_of("192.0.2.1:1935") == "192.0.2.1"
    assert address_of("[2001:db8::1]:8890") == "2001:db8::1"
    assert address_of("?") == "?"
