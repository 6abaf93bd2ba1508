"""What the node knows of each live stream's output, kept in memory from the worker's events.

Playlists and manifests arrive as text inside the events, so serving them never touches the
disk; media files are read once on first request and kept until the worker removes them.
Every event replaces `changed`, a future that blocking requests (LL-HLS `_HLS_msn`, DASH's
growing segment) await: they wake on the worker's notification, never by polling the disk.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

CACHE_BYTES = 64 * 1024 * 1024  # per stream: recent parts and segments


@dataclass
class HlsProgress:
    """How far a media playlist has got: the last complete part and the last complete segment."""

    msn: int = -1
    part: int = -1
    complete_msn: int = -1

    def has_part(self, msn: int, part: int) -> bool:
        """Part `part` of segment `msn`, or anything later (a segment may end before part N)."""
        return (self.msn, self.part) >= (msn, part)

    def has_segment(self, msn: int) -> bool:
        return self.complete_msn >= msn


@dataclass
class GrowingSegment:
    """A segment still being written: its parts so far, for chunked delivery (DASH)."""

    parts: list[str] = field(default_factory=list)
    complete: bool = False


class LiveStream:
    def __init__(self, stream_id: int, directory: Path, loop: asyncio.AbstractEventLoop) -> None:
        self.stream_id = stream_id
        self.directory = directory
        self.loop = loop
        self.texts: dict[str, bytes] = {}
        self.progress: dict[str, HlsProgress] = {}
        self.media: set[str] = set()
        self.growing: dict[str, GrowingSegment] = {}
        self.cache: OrderedDict[str, bytes] = OrderedDict()
        self.cache_bytes = 0
        self.ended_at: float | None = None
        self.changed: asyncio.Future = loop.create_future()

    # -- events from the worker ------------------------------------------------------------
    def apply(self, event: dict) -> None:
        kind = event.get("event")
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            handler(event)
        if "text" in event and "path" in event:
            self.texts[event["path"]] = event["text"].encode()
        self._notify()

    def _on_init(self, event: dict) -> None:
        self.media.add(event["path"])

    def _on_part(self, event: dict) -> None:
        self.media.add(event["path"])
        segment = segment_path(event["rendition"], event["msn"])
        self.growing.setdefault(segment, GrowingSegment()).parts.append(event["path"])

    def _on_segment(self, event: dict) -> None:
        self.media.add(event["path"])
        self.growing.setdefault(event["path"], GrowingSegment()).complete = True
        progress = self.progress.setdefault(playlist_path(event["rendition"]), HlsProgress())
        progress.complete_msn = max(progress.complete_msn, event["msn"])

    def _on_playlist(self, event: dict) -> None:
        progress = self.progress.setdefault(event["path"], HlsProgress())
        progress.msn, progress.part = event["msn"], event["part"]

    def _on_ts_segment(self, event: dict) -> None:
        self.media.add(event["path"])

    def _on_removed(self, event: dict) -> None:
        for path in event["paths"]:
            self.media.discard(path)
            self.growing.pop(path, None)
            data = self.cache.pop(path, None)
            if data is not None:
                self.cache_bytes -= len(data)

    def _on_ended(self, _event: dict) -> None:
        self.ended_at = time.monotonic()
        for segment in self.growing.values():
            segment.complete = True

    def _notify(self) -> None:
        previous, self.changed = self.changed, self.loop.create_future()
        previous.set_result(None)

    # -- reads -------------------------------------------------------------------------------
    async def wait_until(self, condition, timeout: float) -> bool:
        """Wait for `condition()` to hold, waking on each event; False on timeout or end."""
        deadline = self.loop.time() + timeout
        while not condition():
            remaining = deadline - self.loop.time()
            if remaining <= 0 or self.ended_at is not None:
                return condition()
            try:
                await asyncio.wait_for(asyncio.shield(self.changed), remaining)
            except asyncio.TimeoutError:
                return condition()
        return True

    def read_media(self, path: str) -> bytes | None:
        """An announced media file's bytes, from memory or read once from disk."""
        data = self.cache.get(path)
        if data is not None:
            self.cache.move_to_end(path)
            return data
        if path not in self.media:
            return None
        try:
            data = (self.directory / path).read_bytes()
        except OSError:
            return None
        self.cache[path] = data
        self.cache_bytes += len(data)
        while self.cache_bytes > CACHE_BYTES and self.cache:
            _, old = self.cache.popitem(last=False)
            self.cache_bytes -= len(old)
        return data


def playlist_path(rendition: str) -> str:
    return f"{rendition}/index.m3u8"


def segment_path(rendition: str, msn: int) -> str:
    return f"{rendition}/seg_{msn}.m4s"
