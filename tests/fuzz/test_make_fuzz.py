"""`make fuzz`'s runner end to end, for a few hundred inputs of one harness: atheris starts,
takes the seeds, and the table reports the executions (the long run is `make fuzz`)."""

from __future__ import annotations

import subprocess
import sys


def test_fuzz_all_reports_executions_and_crashes(tmp_path):
    command = [sys.executable, "-m", "fuzz.all", "--runs", "500", "--artifacts", str(tmp_path), "amf0"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("amf0"))
    assert row.split()[1] == "500" and row.split()[4] == "0", result.stdout
