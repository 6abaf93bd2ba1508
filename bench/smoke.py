"""The benchmarks' smoke mode: `python -m bench.X --smoke` runs X's machinery end to end in a
few seconds on tiny inputs, in a temp directory of its own, and prints its report lines.

Its figures mean nothing (too short, too small) and nothing asserts them: it exists so that a
change that breaks a benchmark (a worker contract, a helper's signature) fails the test suite
(tests/bench/test_smoke.py) instead of rotting until someone next measures.
"""

from __future__ import annotations

import argparse

HELP = "a few seconds on tiny inputs: checks the benchmark runs end to end; its figures mean nothing"
CLIP_SIZE = (640, 360)  # the smoke runs' source clip (bench/clips.py) instead of 1080p
CLIP_SECONDS = 2


def add_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true", help=HELP)


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when the denominator is 0 (a window too short for the
    reference to show any CPU); a benchmark prints NaN rather than crash on it."""
    return numerator / denominator if denominator else float("nan")
