"""Pages for overlay tests, served on 127.0.0.1 by the test: a solid box of a known colour on
a transparent background, a 404, a page that never answers, redirects, and pages the test
changes while they are shown."""

from __future__ import annotations

import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qs, urlsplit

import av
import numpy as np

FULL_BOX = """<!doctype html><html><head><style>
html, body {{ margin: 0; background: transparent; }}
#box {{ position: absolute; left: 0; top: 0; width: 100%; height: 100%; background: {colour}; }}
</style></head><body><div id="box"></div></body></html>"""
# a 60×30 box of rgb(0, 200, 0) at (20, 10), transparent around it
BOX = """<!doctype html><html><head><style>html, body { margin: 0; background: transparent; }
#box { position: absolute; left: 20px; top: 10px; width: 60px; height: 30px; background: rgb(0, 200, 0); }
</style></head><body><div id="box"></div></body></html>"""


def box_page(colour: str) -> str:
    """A page that is one box of `colour` (CSS) over its whole viewport."""
    return FULL_BOX.format(colour=colour)


def rgba(png: bytes) -> np.ndarray:
    with av.open(io.BytesIO(png), format="png_pipe") as container:
        return next(container.decode(video=0)).to_ndarray(format="rgba")


class OverlayPages:
    """A threaded HTTP server; `pages[path]` is served as HTML, `/missing` answers 404,
    `/hang` never answers, `/redirect?to=<url>` answers 302 to `url`."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.pages: dict[str, str] = {}
        self.requests: list[str] = []
        self.release = threading.Event()
        pages, requests, release = self.pages, self.requests, self.release

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                requests.append(parts.path)
                if parts.path == "/hang":
                    release.wait(60)
                    return
                if parts.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", parse_qs(parts.query)["to"][0])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = pages.get(parts.path)
                if body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
