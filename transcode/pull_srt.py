"""Pulling srt:// sources through Debian's ffmpeg, since PyAV's bundled FFmpeg has no libsrt.

`ffmpeg -i srt://… -c copy -f mpegts pipe:1` is the SRT caller; the worker demuxes its stdout
with PyAV like any other source. libsrt's own timeouts bound the connect (`connect_timeout`,
ms) and each read (`timeout`, µs); the pipe reader adds its own deadline, so a caller that
connects and then receives nothing still ends (as end of stream) instead of hanging.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import tempfile
from urllib.parse import parse_qsl, urlsplit

import av

from transcode.pull_source import DEMUX_OPTIONS, OpenedSource, redacted

FFMPEG = "ffmpeg"


def with_timeouts(url: str, open_timeout: float, read_timeout: float) -> str:
    """The URL with libsrt's connect and read timeouts, unless the operator set them."""
    present = {key for key, _ in parse_qsl(urlsplit(url).query)}
    extra = []
    if "connect_timeout" not in present:
        extra.append(f"connect_timeout={int(open_timeout * 1000)}")
    if "timeout" not in present:
        extra.append(f"timeout={int(read_timeout * 1e6)}")
    if not extra:
        return url
    return url + ("&" if urlsplit(url).query else "?") + "&".join(extra)


class DeadlinePipeReader:
    """Reads what has arrived on a pipe; after `timeout` seconds of silence, end of stream."""

    def __init__(self, fd: int, first_timeout: float, timeout: float) -> None:
        self.fd = fd
        self.timeout = first_timeout
        self.next_timeout = timeout

    def read(self, size: int = -1) -> bytes:
        ready, _, _ = select.select([self.fd], [], [], self.timeout)
        self.timeout = self.next_timeout
        if not ready:
            return b""
        return os.read(self.fd, size if size > 0 else 65536)


class SrtSource(OpenedSource):
    """An OpenedSource whose bytes come from an ffmpeg SRT caller process."""

    process: subprocess.Popen | None = None

    def close(self) -> None:
        super().close()
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def open_srt(url: str, open_timeout: float, read_timeout: float) -> SrtSource:
    if shutil.which(FFMPEG) is None:
        raise ValueError("srt:// needs the ffmpeg command (built with libsrt) on the node")
    errors = tempfile.TemporaryFile()  # a file, not a pipe: ffmpeg must never block on stderr
    full_url = with_timeouts(url, open_timeout, read_timeout)
    process = subprocess.Popen(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", "-i", full_url, "-map", "0:v?", "-map", "0:a?",
         "-c", "copy", "-f", "mpegts", "pipe:1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors,
    )
    reader = DeadlinePipeReader(process.stdout.fileno(), open_timeout + read_timeout, read_timeout)
    try:
        container = av.open(reader, "r", format="mpegts", options=DEMUX_OPTIONS)
    except av.error.FFmpegError:
        process.kill()
        process.wait()
        errors.seek(0)
        lines = errors.read().decode(errors="replace").replace(full_url, redacted(url)).strip().splitlines()
        raise ValueError(lines[-1] if lines else "no MPEG-TS from the SRT source") from None
    finally:
        errors.close()
    source = SrtSource(url, container)
    source.process = process
    if source.video is None and source.audio is None:
        source.close()
        raise ValueError("no video or audio stream in the source")
    return source
