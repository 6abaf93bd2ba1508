"""What a wake-up costs a Python process on this machine: the same small job run back to back,
and run after each of many short sleeps, in one process; prints CPU per job and the ratio.

This is why the node and the workers batch their input and put every timer on one grid: on
this VM a job that costs 10 µs back to back costs ~300 µs after a 50 ms sleep, and work in
the first milliseconds after a wake-up runs several times slower.

    python -m bench.wake_cost [--smoke]
"""

from __future__ import annotations

import argparse
import time

from bench import smoke

TABLE = [{"a": i, "b": str(i)} for i in range(100_000)]  # a working set to touch


def job(steps: int) -> int:
    total = 0
    for i in range(steps):
        total += TABLE[(i * 7919) % len(TABLE)]["a"]
    return total


def cpu_per_job(steps: int, sleep: float, jobs: int) -> float:
    started = time.process_time()
    for _ in range(jobs):
        if sleep:
            time.sleep(sleep)
        job(steps)
    return (time.process_time() - started) / jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    smoke.add_flag(parser)
    args = parser.parse_args()
    print("job size     back to back   after a 50 ms sleep   ratio")
    for steps in (100, 1_000, 10_000):
        jobs = 5 if args.smoke else max(20, 60_000 // steps)
        warm = cpu_per_job(steps, 0.0, jobs)
        woken = cpu_per_job(steps, 0.05, jobs)
        print(f"{steps:6d} steps  {1e6 * warm:9.1f} µs   {1e6 * woken:12.1f} µs      {woken / warm:6.2f}")


if __name__ == "__main__":
    main()
