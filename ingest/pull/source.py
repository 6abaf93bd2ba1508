"""The source of a PULL stream: the worker itself opens the operator's URLs with PyAV.

The URLs are tried in round robin. A URL that fails to open, or a working one that stops
sending for `read_timeout`, hands over to the next; after every URL failed in a row the
rotation waits (doubling up to `backoff_max`) before the next round, so a dead origin is not
hammered. Every PyAV call is bounded by PyAV's interrupt timeout (and FFmpeg's `rw_timeout`),
so a URL that accepts a connection and then says nothing never hangs the worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import av

from ingest.demuxed import DemuxedSource

log = logging.getLogger("headwater.pull")

FIRST_BACKOFF = 0.5  # seconds after the first failed round
# Start packaging after a few packets instead of probing seconds of media.
DEMUX_OPTIONS = {"probesize": "500000", "analyzeduration": "1000000"}

SOURCE_TYPES = {"rtmp": "rtmp", "rtmps": "rtmp", "http": "https", "https": "https", "rtsp": "rtsp", "srt": "srt"}


def source_type(url: str) -> str:
    """The API's `stream_source_type` for a pull URL (rtmp, https, rtsp, srt)."""
    return SOURCE_TYPES.get(urlsplit(url).scheme.lower(), "https")


def redacted(url: str) -> str:
    """The URL without credentials or query (tokens often ride there), for logs and events."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def open_options(url: str, read_timeout: float) -> dict:
    """FFmpeg options bounding network waits. rtmp's own `timeout` means "listen", so only
    the generic `rw_timeout` (µs) is used there; rtsp goes over TCP (no UDP port juggling)."""
    options = dict(DEMUX_OPTIONS, rw_timeout=str(int(read_timeout * 1e6)))
    scheme = urlsplit(url).scheme.lower()
    if scheme == "rtsp":
        options["rtsp_transport"] = "tcp"
        options["timeout"] = str(int(read_timeout * 1e6))
    return options


def describe_error(error: Exception) -> str:
    """The error without the URL PyAV appends (it may carry credentials)."""
    return (
        getattr(error, "strerror", None) or type(error).__name__
        if isinstance(error, (av.error.FFmpegError, OSError))
        else str(error)
    )


@dataclass
class OpenedSource(DemuxedSource):
    """A pull URL opened for demuxing; `packets()` ends on EOF and raises on a timeout."""

    url: str
    container: av.container.InputContainer

    @property
    def source_type(self) -> str:
        return source_type(self.url)

    def close(self) -> None:
        try:
            self.container.close()
        except av.error.FFmpegError:
            pass


def open_source(url: str, open_timeout: float, read_timeout: float) -> OpenedSource:
    """Open `url` for demuxing; raises av.error.FFmpegError (or ValueError) when it is not
    a media source with video or audio (an HTML page, a dead host, an unknown protocol)."""
    if urlsplit(url).scheme.lower() == "srt":
        from ingest.pull.srt import open_srt  # it needs this module's OpenedSource

        return open_srt(url, open_timeout, read_timeout)
    container = av.open(  # a source's metadata need not be UTF-8 (see ingest/pipe.py)
        url,
        "r",
        options=open_options(url, read_timeout),
        timeout=(open_timeout, read_timeout),
        metadata_errors="replace",
    )
    source = OpenedSource(url, container)
    if source.video is None and source.audio is None:
        source.close()
        raise ValueError("no video or audio stream in the source")
    return source


class PullRotation:
    """Yields opened sources in round robin until `stop` is set.

    `on_failure(url, message)` hears about every URL that failed to open. The caller reports
    back through `worked()` once a source delivered media, which resets the backoff.
    """

    def __init__(
        self,
        urls: list[str],
        *,
        open_timeout: float,
        read_timeout: float,
        backoff_max: float,
        stop: threading.Event,
        on_failure: Callable[[str, str], None],
        opener: Callable[[str, float, float], OpenedSource] = open_source,
    ) -> None:
        if not urls:
            raise ValueError("a pull stream needs at least one URL")
        self.urls = urls
        self.open_timeout = open_timeout
        self.read_timeout = read_timeout
        self.backoff_max = backoff_max
        self.stop = stop
        self.on_failure = on_failure
        self.opener = opener
        self.next_index = 0
        self.failures_in_a_row = 0
        self.last_working = time.monotonic()

    def worked(self) -> None:
        self.failures_in_a_row = 0
        self.last_working = time.monotonic()

    def idle_for(self) -> float:
        """Seconds since a source last delivered media (or since the rotation began)."""
        return time.monotonic() - self.last_working

    def sources(self) -> Iterator[OpenedSource]:
        while not self.stop.is_set():
            url = self.urls[self.next_index]
            self.next_index = (self.next_index + 1) % len(self.urls)
            try:
                yield self.opener(url, self.open_timeout, self.read_timeout)
                continue
            except (av.error.FFmpegError, ValueError, OSError) as error:
                message = f"{redacted(url)}: {describe_error(error)}"
                log.warning("pull source failed: %s", message)
                self.on_failure(url, message)
            self.failures_in_a_row += 1
            if self.failures_in_a_row % len(self.urls) == 0:
                self.stop.wait(self.backoff())

    def backoff(self) -> float:
        rounds = self.failures_in_a_row // len(self.urls)
        return min(self.backoff_max, FIRST_BACKOFF * 2 ** (rounds - 1))
