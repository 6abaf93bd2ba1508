"""The reference server of the benchmarks: Debian's nginx with libnginx-mod-rtmp.

Started in its own temp directory with one worker process (Headwater's node is one process
too), RTMP → HLS MPEG-TS with 2 s fragments, and a static HTTP server over any directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.ports import free_port

MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"

CONFIG = """
load_module {module};
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 4096; }}
rtmp {{
    server {{
        listen 127.0.0.1:{rtmp_port};
        chunk_size 4096;
        application in {{
            live on;
            hls {hls};
            hls_path {root}/hls;
            hls_fragment 2s;
            hls_playlist_length 16s;
        }}
    }}
}}
http {{
    access_log off;
    sendfile on;
    types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; video/iso.segment m4s; }}
    server {{
        listen 127.0.0.1:{http_port};
        location /hls/ {{ root {root}; add_header Cache-Control no-cache; }}
        location /static/ {{ root {root}; }}
    }}
}}
"""


class NginxRtmp:
    def __init__(self, *, hls: bool = True) -> None:
        if not Path(MODULE).exists():
            raise RuntimeError("install nginx and libnginx-mod-rtmp (apt-get install nginx libnginx-mod-rtmp)")
        self.root = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
        (self.root / "hls").mkdir()
        (self.root / "static").mkdir()
        os.chmod(self.root, 0o755)
        self.rtmp_port, self.http_port = free_port(), free_port()
        self.config = self.root / "nginx.conf"
        self.config.write_text(
            CONFIG.format(
                module=MODULE,
                root=self.root,
                rtmp_port=self.rtmp_port,
                http_port=self.http_port,
                hls="on" if hls else "off",
            )
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> NginxRtmp:
        self.process = subprocess.Popen(
            ["nginx", "-c", str(self.config), "-p", str(self.root)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        time.sleep(0.5)
        if self.process.poll() is not None:
            raise RuntimeError(self.process.stderr.read().decode())
        return self

    def worker_pids(self) -> list[int]:
        """nginx's master plus its worker (the worker does the RTMP and HLS work)."""
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True)
        return [self.process.pid, *map(int, out.stdout.split())]

    @property
    def static_dir(self) -> Path:
        return self.root / "static"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http_port}/{path.lstrip('/')}"

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)
