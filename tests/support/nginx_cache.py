"""nginx with `docker/nginx-cache.conf` in front of nodes, for tests: the repository's own
template filled with free ports and a temporary cache, nginx in the foreground."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from tests.support.ports import free_port

TEMPLATE = Path(__file__).resolve().parents[2] / "docker" / "nginx-cache.conf"

MAIN = """
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/temp/body;
    proxy_temp_path {root}/temp/proxy;
    fastcgi_temp_path {root}/temp/fastcgi;
    uwsgi_temp_path {root}/temp/uwsgi;
    scgi_temp_path {root}/temp/scgi;
    include {root}/cache.conf;
}}
"""


def filled(template: str, values: dict[str, str]) -> str:
    """`${NAME}` replaced as the nginx image's envsubst does (nginx's `$variables` left alone)."""
    for name, value in values.items():
        template = template.replace(f"${{{name}}}", value)
    return template


class NginxCache:
    def __init__(self, upstreams: list[str]) -> None:
        if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
            raise RuntimeError("nginx is not installed (scripts/system-packages.sh)")
        self.root = Path(tempfile.mkdtemp(prefix="headwater-nginx-"))
        for directory in ("cache", "temp"):
            (self.root / directory).mkdir()
            os.chmod(self.root / directory, 0o777)  # nginx's workers run as nobody under root
        os.chmod(self.root, 0o755)
        self.port = free_port()
        values = {
            "NGINX_PORT": f"127.0.0.1:{self.port}",
            "NGINX_CACHE_DIR": str(self.root / "cache"),
            "NGINX_CACHE_SIZE": "256m",
            "HEADWATER_NODES": " ".join(f"server {upstream};" for upstream in upstreams),
        }
        (self.root / "cache.conf").write_text(filled(TEMPLATE.read_text(), values))
        (self.root / "nginx.conf").write_text(MAIN.format(root=self.root))
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> NginxCache:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.process = subprocess.Popen(
            [nginx, "-c", str(self.root / "nginx.conf"), "-p", str(self.root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(100):
            if self.process.poll() is not None:
                raise RuntimeError(self.process.stderr.read().decode() if self.process.stderr else "nginx exited")
            try:
                httpx.get(f"{self.base_url}/health", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("nginx did not answer")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)
