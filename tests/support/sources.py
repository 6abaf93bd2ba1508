"""Sources a PULL stream can read, served by the test: ffmpeg as an RTMP server, live HLS
written by ffmpeg into a directory served over HTTP, and an HTTP server answering HTML."""

from __future__ import annotations

import base64
import functools
import socket
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.support.ports import free_port
from tests.support.publisher import ffmpeg_publish

HTML = b"<!doctype html><html><body>Not a stream</body></html>"


def rtmp_server(seconds: float, **kwargs) -> tuple[str, subprocess.Popen]:
    """ffmpeg listening as an RTMP server that plays `seconds` of test pattern to one client."""
    url = f"rtmp://127.0.0.1:{free_port()}/live/source"
    return url, ffmpeg_publish(url, seconds=seconds, extra=["-listen", "1"], **kwargs)


def srt_listener(seconds: float, passphrase: str | None = None) -> tuple[str, subprocess.Popen]:
    """Debian's ffmpeg as an SRT listener sending `seconds` of MPEG-TS to the caller (which
    must know `passphrase`, if given: the URL returned has it)."""
    port = free_port(socket.SOCK_DGRAM)
    secret = f"&passphrase={passphrase}" if passphrase else ""
    command = [
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=192x144:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=550:sample_rate=48000",
        "-t",
        str(seconds),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-tune",
        "zerolatency",
        "-g",
        "25",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-f",
        "mpegts",
        f"srt://127.0.0.1:{port}?mode=listener{secret}",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return f"srt://127.0.0.1:{port}?latency=200000{secret}", process


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.endswith(".html"):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(HTML)))
            self.end_headers()
            self.wfile.write(HTML)
            return
        super().do_GET()


class BasicAuthHandler(QuietHandler):
    """QuietHandler behind HTTP Basic authentication (`credentials`: user, password)."""

    credentials: tuple[str, str] = ("", "")

    def do_GET(self) -> None:
        expected = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="source"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()


class HttpDirectory:
    """A directory on a loopback HTTP server (thread); `*.html` paths answer an HTML page;
    with `credentials` (user, password) every request needs them (HTTP Basic)."""

    def __init__(self, directory: Path, credentials: tuple[str, str] | None = None) -> None:
        self.directory = directory
        base = QuietHandler
        if credentials is not None:
            base = type("Guarded", (BasicAuthHandler,), {"credentials": credentials})
        handler = functools.partial(base, directory=str(directory))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"

    def __enter__(self) -> HttpDirectory:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class SilentServer:
    """A TCP listener that accepts connections and never answers: a source that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc) -> None:
        self.sock.close()


def hls_writer(directory: Path, seconds: float, size: str = "160x120") -> subprocess.Popen:
    """ffmpeg writing a live HLS playlist (1 s segments, rolling window) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    command = [
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-re",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={size}:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=660:sample_rate=44100",
        "-t",
        str(seconds),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-tune",
        "zerolatency",
        "-g",
        "25",
        "-keyint_min",
        "25",
        "-sc_threshold",
        "0",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "48k",
        "-f",
        "hls",
        "-hls_time",
        "1",
        "-hls_list_size",
        "6",
        "-hls_flags",
        "delete_segments",
        str(directory / "index.m3u8"),
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
