"""A short deterministic pass of every fuzz harness (fuzz/targets/): its seeds (real captures)
and a few hundred mutations of them (fuzz/mutate.py), each checked for the harness's
property: only the parser's declared errors, no input left running (a hang), no allocation
beyond a bound (a length field trusted). `make fuzz` runs the same harnesses coverage-guided
for a million inputs each."""

from __future__ import annotations

import signal
import tracemalloc

import pytest

from fuzz.mutate import mutations
from fuzz.target import NAMES, load

MUTATED = 300
SEED = 22
HANG_SECONDS = 10  # an input still running then is a hang, not a slow machine
PEAK_BYTES = 32 * 1024 * 1024  # inputs are a few KB: a parser that goes past this trusted a length


def _hang(signum, frame):
    raise TimeoutError(f"one input ran over {HANG_SECONDS} s")


@pytest.fixture
def bounded():
    previous = signal.signal(signal.SIGALRM, _hang)
    tracemalloc.start()
    yield
    tracemalloc.stop()
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("name", NAMES)
def test_harness_holds_on_seeds_and_mutations(name, bounded):
    target = load(name)
    seeds = target.seeds()
    assert seeds, f"fuzz/seeds/{name}/ is empty (python -m fuzz.seeds)"
    for data in [*seeds, *mutations(seeds, MUTATED, SEED)]:
        tracemalloc.reset_peak()
        signal.alarm(HANG_SECONDS)
        try:
            target.check(data)
        finally:
            signal.alarm(0)
        peak = tracemalloc.get_traced_memory()[1]
        assert peak < PEAK_BYTES, f"{name}: {peak} bytes for an input of {len(data)}: {data[:64]!r}"
