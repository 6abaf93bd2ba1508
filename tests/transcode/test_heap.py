"""keep_freed_memory: big buffers freed by the worker are reused without new page faults."""

from __future__ import annotations

import subprocess
import sys

# What a passthrough worker does with memory: a TS segment grown packet by packet, frames and
# parts of mixed sizes alive for a moment. Run twice; the second round's page faults count.
CHURN = """
import random, resource, sys
from transcode.heap import keep_freed_memory
if sys.argv[1] == "tuned":
    assert keep_freed_memory()

def segment():
    out = bytearray()
    for _ in range(8000):
        out += bytes(188)
    return bytes(out)

def frames(rng):
    alive = []
    for _ in range(30):
        alive.append(bytes(rng.choice((65536, 200000, 400000, 1500000))))
        del alive[:-4]

def churn():
    for seed in range(20):
        segment()
        frames(random.Random(seed))

churn()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
churn()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    result = subprocess.run([sys.executable, "-c", CHURN, mode], capture_output=True, text=True, check=True)
    return int(result.stdout)


def test_freed_buffers_are_reused_without_page_faults():
    untuned, tuned = _faults("plain"), _faults("tuned")
    assert untuned > 5000  # glibc hands big blocks back and faults them in again
    assert tuned < untuned / 20  # now they come back from the heap as they are
