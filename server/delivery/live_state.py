"""What the node knows of each live stream's output, kept in memory from the worker's events.

Playlists and manifests arrive as text inside the events, so serving them never touches the
disk; media files are read once on first request and kept until the worker removes them. A
part is not a file of its own but a byte range of its segment's file, which the part event
names.
Blocking requests (LL-HLS `_HLS_msn`, preload-hinted parts, DASH's growing segment) wait on a
topic — a media playlist's path, or MEDIA for new files — and wake on the worker's event for
that topic, never by polling the disk. Keyed waiters matter at scale: hundreds of clients
block on one playlist, and a stream emits several events per part (audio, video, TS, MPD)
that would otherwise wake every one of them.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from packager.hls import Entry
from packager.playlist_text import MediaPlaylistText, PlaylistUpdate
from server.metrics.stream_meter import StreamMeter
from transcode.contract import Carried, Ended, Event, Init, Part, Playlist, PublishedText, Removed, Segment, TsSegment

CACHE_BYTES = 64 * 1024 * 1024  # per stream: recent parts and segments
# A segment this many behind the newest of its playlist is past the live window (8), where
# only DVR viewers go, one or a few each: served from its file (sendfile), never cached.
DISK_SEGMENTS_BEHIND = 10
GZIP_BYTES = 64 * 1024  # a whole media playlist this long is gzipped for a client that accepts it
NUMBERED_SEGMENT = re.compile(r"(.+/(?:seg|ts)_)(\d+)\.(?:m4s|ts)")
MEDIA = "media"  # wait topic: a new media file (part, segment, init) was announced


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
    def __init__(
        self, stream_id: int, directory: Path, loop: asyncio.AbstractEventLoop, meter: StreamMeter | None = None
    ) -> None:
        self.stream_id = stream_id
        self.meter = meter or StreamMeter()  # bytes served, who follows the playlists (/metrics)
        self.directory = directory
        self.loop = loop
        self.texts: dict[str, bytes] = {}  # master playlists, MPD, TS playlists: whole texts
        self.playlists: dict[str, MediaPlaylistText] = {}  # LL-HLS media playlists, kept from updates
        self.progress: dict[str, HlsProgress] = {}
        self.media: set[str] = set()
        self.ranges: dict[str, tuple[str, int, int]] = {}  # part → (segment file, offset, size)
        self.growing: dict[str, GrowingSegment] = {}
        self.cache: OrderedDict[str, bytes] = OrderedDict()
        self.cache_bytes = 0
        self.answers: dict = {}  # path or (path, kind) → live_routes.Answer over bytes held here
        self.ended_at: float | None = None
        self.waiters: dict[str, list[Waiter]] = {}
        self.adopted: set[str] = set()  # a crashed worker's files its successor lists on
        self.newest: dict[str, int] = {}  # "<rendition>/seg_" or "…/ts_" → its newest complete segment

    # -- events from the worker ------------------------------------------------------------
    def apply(self, event: Event) -> None:
        """Take a worker's event (`transcode/contract.py`): its handler by type in APPLY,
        the text it publishes, then the requests waiting on it."""
        handler = APPLY.get(type(event))
        if handler is not None:
            handler(self, event)
        if isinstance(event, PublishedText):
            self.texts[event.path] = event.text.encode()
        self._notify(event_topics(event) if not isinstance(event, Ended) else list(self.waiters))

    def _on_init(self, event: Init) -> None:
        self.media.add(event.path)

    def _on_part(self, event: Part) -> None:
        self.media.add(event.path)
        self.ranges[event.path] = (event.file, event.offset, event.size)
        segment = segment_path(event.rendition, event.msn)
        self.growing.setdefault(segment, GrowingSegment()).parts.append(event.path)

    def _on_segment(self, event: Segment) -> None:
        self.media.add(event.path)
        self._count_segment(event.path)
        self.growing.setdefault(event.path, GrowingSegment()).complete = True
        progress = self.progress.setdefault(playlist_path(event.rendition), HlsProgress())
        progress.complete_msn = max(progress.complete_msn, event.msn)

    def _on_playlist(self, event: Playlist) -> None:
        update = PlaylistUpdate(
            event.header,
            event.first_msn,
            [Entry.from_plain(entry) for entry in event.entries],
            event.tail,
            event.tail_duration,
            event.can_skip_until,
            event.fresh,
        )
        playlist = self.playlists.get(event.path)
        if playlist is None or event.fresh:
            playlist = self.playlists[event.path] = MediaPlaylistText()
        playlist.update(update)
        progress = self.progress.setdefault(event.path, HlsProgress())
        progress.msn, progress.part = event.msn, event.part

    def _on_ts_segment(self, event: TsSegment) -> None:
        self.media.add(event.path)
        self._count_segment(event.path)

    def _count_segment(self, path: str) -> None:
        numbered = NUMBERED_SEGMENT.fullmatch(path)
        if numbered is not None:
            series, number = numbered.group(1), int(numbered.group(2))
            self.newest[series] = max(self.newest.get(series, -1), number)

    def _on_carried(self, event: Carried) -> None:
        """A worker after a crash lists these on (its gap segments are new files)."""
        self.adopted.update(event.paths)
        self.media.update(event.paths)

    def _on_removed(self, event: Removed) -> None:
        for path in event.paths:
            self.media.discard(path)
            self.ranges.pop(path, None)
            self.growing.pop(path, None)
            self.answers.pop(path, None)
            data = self.cache.pop(path, None)
            if data is not None:
                self.cache_bytes -= len(data)

    def _on_ended(self, _event: Ended) -> None:
        self.ended_at = time.monotonic()
        for segment in self.growing.values():
            segment.complete = True

    def take_over(self) -> set[str]:
        """A new worker goes on where the last one stopped: the old one's segments still
        growing end where they are (their chunked responses finish); returns what the old
        one announced, for the caller to retire once nobody reads it any more.

        A crashed worker's playlists stay served until the new worker's replace them, so
        blocked reloads wait on. An ended one's, final (ENDLIST), go at once: a player that
        loads the stream now waits for the new live playlists instead of reading that it is
        over."""
        if self.ended_at is not None:
            self.ended_at = None
            self.texts.clear()
            self.playlists.clear()
            self.progress.clear()
            self.answers.clear()
        for segment in self.growing.values():
            segment.complete = True
        self._notify([MEDIA])
        return set(self.media) | set(self.growing)

    def _notify(self, topics) -> None:
        for topic in topics:
            for waiter in self.waiters.pop(topic, ()):
                waiter.on_event()

    # -- waits -------------------------------------------------------------------------------
    def call_when(self, condition, timeout: float, topic: str, callback) -> None:
        """`callback(True)` once `condition()` holds, re-checked on each event of `topic`;
        `callback(condition())` at the timeout or the stream's end. Runs at once if it
        already holds. A callback and a timer per wait, no task: the protocol's fast path
        answers hundreds of blocked requests from one event this way."""
        if condition():
            callback(True)
        elif self.ended_at is not None:
            callback(False)
        else:
            Waiter(self, condition, topic, callback, timeout).wait()

    async def wait_until(self, condition, timeout: float, topic: str = MEDIA) -> bool:
        """`call_when` for a coroutine: True once `condition()` holds, False on timeout or end."""
        if condition():
            return True
        future = self.loop.create_future()
        self.call_when(condition, timeout, topic, lambda ok: future.done() or future.set_result(ok))
        return await future

    # -- reads -------------------------------------------------------------------------------
    def text(self, path: str, skip: bool = False, gzip: bool = False) -> tuple[bytes, bool] | None:
        """A playlist's or manifest's current text (`skip`: the delta update of a media
        playlist when it can skip anything, RFC 8216bis 6.2.5.1), the same bytes object until
        it changes; and whether it is gzipped (`gzip`: the client accepts it, and a whole
        media playlist of GZIP_BYTES or more is sent so: a 4-hour one is 470 KB).
        None: no such playlist."""
        playlist = self.playlists.get(path)
        if playlist is None:
            text = self.texts.get(path)
            return None if text is None else (text, False)
        delta = playlist.delta() if skip else None
        if delta is not None:
            return delta, False
        full = playlist.full()
        if gzip and len(full) >= GZIP_BYTES:
            return playlist.full_gzip(), True
        return full, False

    def on_disk(self, path: str) -> Path | None:
        """The file of a whole segment behind the live edge (DISK_SEGMENTS_BEHIND) that is not
        in the cache: a DVR viewer's, served from the disk without copying it through Python
        or filling the cache with what one viewer reads once."""
        numbered = NUMBERED_SEGMENT.fullmatch(path)
        if numbered is None or path not in self.media or path in self.cache:
            return None
        newest = self.newest.get(numbered.group(1))
        if newest is None or int(numbered.group(2)) > newest - DISK_SEGMENTS_BEHIND:
            return None
        return self.directory / path

    def read_media(self, path: str) -> bytes | None:
        """An announced media file's bytes, from memory or read once from disk."""
        data = self.cache.get(path)
        if data is not None:
            self.cache.move_to_end(path)
            return data
        if path not in self.media:
            return None
        try:
            data = self._read(path)
        except OSError:
            return None
        self.cache[path] = data
        self.cache_bytes += len(data)
        while self.cache_bytes > CACHE_BYTES and self.cache:
            old_path, old = self.cache.popitem(last=False)
            self.cache_bytes -= len(old)
            self.answers.pop(old_path, None)
        return data

    def _read(self, path: str) -> bytes:
        where = self.ranges.get(path)
        if where is None:
            return (self.directory / path).read_bytes()
        file, offset, size = where
        fd = os.open(self.directory / file, os.O_RDONLY)
        try:
            data = os.pread(fd, size, offset)
        finally:
            os.close(fd)
        if len(data) != size:
            raise OSError(f"{file}: {len(data)} of the {size} bytes of {path}")
        return data


class Waiter:
    """One held request: re-checks its condition on its topic's events until it holds, the
    stream ends or the timer fires, then calls back once."""

    __slots__ = ("callback", "condition", "stream", "timer", "topic")

    def __init__(self, stream: LiveStream, condition, topic: str, callback, timeout: float) -> None:
        self.stream, self.condition, self.topic, self.callback = stream, condition, topic, callback
        self.timer = stream.loop.call_later(timeout, self.expire)

    def wait(self) -> None:
        self.stream.waiters.setdefault(self.topic, []).append(self)

    def on_event(self) -> None:
        if self.callback is None:
            return
        if self.condition():
            self._done(True)
        elif self.stream.ended_at is not None:
            self._done(False)
        else:
            self.wait()

    def expire(self) -> None:
        if self.callback is not None:
            self._done(self.condition())

    def _done(self, ok: bool) -> None:
        callback, self.callback = self.callback, None
        self.timer.cancel()
        callback(ok)


# The delivery state's handler of each event type that changes what it serves.
APPLY = {
    Init: LiveStream._on_init,
    Part: LiveStream._on_part,
    Segment: LiveStream._on_segment,
    Playlist: LiveStream._on_playlist,
    TsSegment: LiveStream._on_ts_segment,
    Carried: LiveStream._on_carried,
    Removed: LiveStream._on_removed,
    Ended: LiveStream._on_ended,
}


def event_topics(event: Event) -> list[str]:
    """Whom an event can satisfy: waiters on new media, on a media playlist, or both."""
    if isinstance(event, Playlist):
        return [event.path]
    if isinstance(event, Segment):
        return [MEDIA, playlist_path(event.rendition)]
    if isinstance(event, (Part, Init, TsSegment)):
        return [MEDIA]
    return []


def playlist_path(rendition: str) -> str:
    return f"{rendition}/index.m3u8"


def segment_path(rendition: str, msn: int) -> str:
    return f"{rendition}/seg_{msn}.m4s"
