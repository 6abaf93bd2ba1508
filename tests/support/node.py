"""A real Headwater node (`headwater serve` in a subprocess) on loopback, for end-to-end tests."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.ports import free_port


def command_lines() -> list[tuple[int, list[str]]]:
    """(pid, arguments) of every process on the machine that is still there."""
    result = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            result.append((int(entry.name), [arg.decode(errors="replace") for arg in raw.split(b"\0")[:-1]]))
    return result


class Node:
    """Starts `python -m server.cli serve` with its own data dir, ports and API key."""

    def __init__(self, data_dir: Path, *, database_url: str | None = None, env: dict | None = None):
        self.data_dir = data_dir
        self.api_key = secrets.token_urlsafe(24)
        self.http_port = free_port()
        self.rtmp_port = free_port()
        self.rtmps_port = free_port()
        self.srt_port = free_port(socket.SOCK_DGRAM)
        self.log_path = data_dir / "node.log"
        self.database_url = database_url or f"sqlite:///{data_dir / 'headwater.db'}"
        self.env = {
            **os.environ,
            "HEADWATER_DATA_DIR": str(data_dir),
            "HEADWATER_API_KEY": self.api_key,
            "HEADWATER_HTTP_HOST": "127.0.0.1",
            "HEADWATER_HTTP_PORT": str(self.http_port),
            "HEADWATER_RTMP_PORT": str(self.rtmp_port),
            "HEADWATER_RTMPS_PORT": str(self.rtmps_port),
            "HEADWATER_SRT_PORT": str(self.srt_port),
            "HEADWATER_PUBLIC_HOST": "127.0.0.1",
            # every test publishes and calls from 127.0.0.1, and many fail on purpose
            "HEADWATER_FAILED_ATTEMPTS_BURST": "100000",
            **({"HEADWATER_DATABASE_URL": database_url} if database_url else {}),
            **(env or {}),
        }
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def headers(self) -> dict:
        return {"Authorization": f"APIKey {self.api_key}"}

    def start(self, timeout: float = 30) -> Node:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:  # the node writes to its own copy of the descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", "server.cli", "serve"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"node exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()  # else it lives on, orphaned, adding to the load that made it slow
        raise RuntimeError(f"node not healthy after {timeout}s:\n{self.log()}")

    def worker_pid(self, stream_id: int) -> int | None:
        """The pid of this node's worker for the stream, told apart by the output directory
        its command line names (`--out-dir`): other nodes on the machine (other tests,
        benchmarks) have workers of the same stream id."""
        labels = ["--out-dir", str(self.data_dir / "live" / str(stream_id))]
        for pid, args in command_lines():
            if "transcode.worker" in args and any(args[i : i + 2] == labels for i in range(len(args))):
                return pid
        return None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
