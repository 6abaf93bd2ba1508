"""`make fuzz`: every harness under atheris for `--runs` inputs (1,000,000 by default), as
many at once as there are cores, then a table of executions, time and crashes per harness.
`--seconds` (FUZZ_SECONDS) also bounds each harness's time, for a loaded machine: the table
then shows the executions reached.

Each harness runs in its own process (`python -m fuzz.run`), with its corpus in a temporary
directory; a crash stops that harness (libFuzzer's way) and leaves the input under
`--artifacts`, the path shown in the table. Exit status 1 if any harness crashed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from fuzz.target import NAMES

DONE = re.compile(rb"Done (\d+) runs in (\d+) second")
EXECUTED = re.compile(rb"stat::number_executed_units: (\d+)")
PROGRESS = re.compile(rb"^#(\d+)\s", re.MULTILINE)
ARTIFACT = re.compile(rb"Test unit written to (\S+)")


@dataclass
class Outcome:
    name: str
    runs: int
    seconds: float
    crash: str | None
    code: int


def fuzz(name: str, runs: int, seconds: int, seed: int, artifacts: Path) -> Outcome:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{name}-") as corpus:
        command = [
            sys.executable, "-m", "fuzz.run", name, corpus, f"-runs={runs}", f"-seed={seed}",
            f"-artifact_prefix={artifacts}/{name}-", "-print_final_stats=1",
            *([f"-max_total_time={seconds}"] if seconds else []),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, check=False)
    output = result.stdout + result.stderr
    done = DONE.search(output) or EXECUTED.search(output)
    counts = [int(n) for n in PROGRESS.findall(output)]
    executed = int(done.group(1)) if done else max(counts, default=0)
    artifact = ARTIFACT.search(output)
    crash = artifact.group(1).decode() if artifact else None
    if crash is None and result.returncode != 0:
        crash = f"exit {result.returncode}: {output[-300:].decode(errors='replace')}"
    return Outcome(name, executed, time.monotonic() - started, crash, result.returncode)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=int(os.environ.get("FUZZ_RUNS", 1_000_000)))
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", 0)), help="0: no limit")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--artifacts", type=Path, default=Path("fuzz-crashes"))
    parser.add_argument("targets", nargs="*", default=list(NAMES))
    options = parser.parse_args()
    options.artifacts.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with ThreadPoolExecutor(options.jobs) as pool:
        outcomes = list(
            pool.map(
                lambda n: fuzz(n, options.runs, options.seconds, options.seed, options.artifacts.resolve()),
                options.targets,
            )
        )
    print(f"{'harness':<16} {'executions':>12} {'seconds':>8} {'exec/s':>8}  crashes")
    for o in outcomes:
        rate = o.runs / o.seconds if o.seconds else 0
        print(f"{o.name:<16} {o.runs:>12,} {o.seconds:>8.0f} {rate:>8,.0f}  {1 if o.crash else 0} {o.crash or ''}")
    print(f"total {sum(o.runs for o in outcomes):,} executions in {time.monotonic() - started:.0f} s")
    sys.exit(1 if any(o.crash for o in outcomes) else 0)


if __name__ == "__main__":
    main()
