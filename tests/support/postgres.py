"""A throwaway PostgreSQL server from Debian's `postgresql` package, for tests.

initdb refuses to run as root, so as root the cluster belongs to the `postgres` user the
package creates. The server listens on 127.0.0.1 on a free port with trust auth.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from tests.support.ports import free_port


def postgres_bin_dir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


class PostgresServer:
    def __init__(self, settings: dict[str, str] | None = None) -> None:
        """`settings`: more server settings (`-c name=value`), e.g. a benchmark's
        `shared_preload_libraries`."""
        self.settings = settings or {}
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="headwater-pg-"))
        self.port = free_port()
        self.as_root = os.geteuid() == 0

    def _run(self, *argv: str) -> subprocess.CompletedProcess:
        command = list(argv)
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=True, capture_output=True, text=True, timeout=60)

    def start(self) -> PostgresServer:
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.root / "data"), "-A", "trust", "-U", "postgres")
        self.resume()
        return self

    def halt(self) -> None:
        """Stops the server and keeps its data (a database outage); `resume` starts it again."""
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        options += "".join(f" -c {name}={value}" for name, value in self.settings.items())
        data, log = str(self.root / "data"), str(self.root / "log")
        self._run(str(self.bin_dir / "pg_ctl"), "-D", data, "-o", options, "-l", log, "-w", "start")

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        name = f"hw_{uuid.uuid4().hex[:12]}"
        deadline = time.monotonic() + 30
        while True:
            try:
                self._run(
                    str(self.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name
                )
                break
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
