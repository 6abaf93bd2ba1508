"""Instant clips cut from live DVR windows (Gcore's `clip_recording`), held by the node.

A clip is a span of wall-clock time [start, start + duration) of one stream. Its segments
are copied out of the stream's DVR window (the node's own playlists say which and where,
`packager/clip_copy.py`) into one recording per video rendition, each with the audio, under
`<data_dir>/clips/<clip id>/<n>/` (the recording layout: the video library's readers play
them). The copy runs on a thread on the node, not in the worker: the node already knows the
window (its playlists) and its files, a clip is a one-off copy of a few segments, and a
thread keeps the event loop free; the window's oldest segments stay on disk a live window
after they leave the playlist, so a listed segment outlives its copy. A clip whose end is
still ahead takes each segment as the window completes it (polled every POLL seconds).

Clips live in the node's memory until `expiration`: then their files go. A node restart
empties the clips directory (the clips were lost with the memory). `vod_required`: once
complete, the top rendition's recording is copied into the recording storage as a new key
and becomes a `ready` video (`on_video`).
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import secrets
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from packager.clip_copy import ClipTrackCopy, WindowSegment, overlapping, window_segment
from packager.hls import Entry
from packager.isobmff import BoxError
from packager.recording_layout import IndexWriter
from packager.vod_tracks import init_facts
from server.delivery.live_state import LiveStream

log = logging.getLogger(__name__)

POLL = 1.0  # seconds between looks at the window for a clip whose end is ahead
AUDIO = "audio"
PLAYLIST = "/index.m3u8"


@dataclass
class Clip:
    id: str  # random: it names the clip's public URLs
    stream_id: int
    start: int
    duration: int
    expiration: int
    vod_required: bool
    created_at: float
    renditions: list[str]  # video renditions, tallest first (the first is mp4_master's)
    heights: list[int]
    complete: bool = False
    video_id: int | None = None
    task: asyncio.Task | None = field(default=None, repr=False)

    @property
    def end(self) -> int:
        return self.start + self.duration


def snapshot(live: LiveStream) -> dict[str, list[Entry]]:
    """Every LL-HLS playlist's settled entries now, by rendition (taken on the event loop,
    which changes them; read on a thread)."""
    return {path.removesuffix(PLAYLIST): list(text.entries) for path, text in live.playlists.items()}


def window(entries: list[Entry], rendition: str) -> list[WindowSegment]:
    """The complete segments a rendition's playlist listed."""
    return [s for e in entries if (s := window_segment(e, rendition)) is not None]


def newer(entries: list[Entry], msn: int) -> int:
    """Where the entries after `msn` begin (they are in msn order): a clip still recording reads
    only what the window added since its last look, not the whole (up to 4-hour) window."""
    return bisect.bisect_right(entries, msn, key=lambda entry: entry.msn)


def rendition_heights(live_dir: Path, entries: dict[str, list[Entry]], renditions: list[str]) -> list[int]:
    """Blocking: each rendition's height from its newest init."""
    heights = []
    for rendition in renditions:
        segments = window(entries.get(rendition, [])[-1:], rendition)
        try:
            facts = init_facts((live_dir / segments[-1].init).read_bytes()) if segments else None
        except (OSError, BoxError):
            facts = None
        heights.append(facts.height or 0 if facts else 0)
    return heights


def oldest_wall_clock(live: LiveStream) -> float | None:
    """Where the window starts now: its oldest dated segment's PROGRAM-DATE-TIME (of any video rendition)."""
    for path, text in live.playlists.items():
        if path != AUDIO + PLAYLIST:
            for entry in text.entries:
                segment = window_segment(entry, path.removesuffix(PLAYLIST))
                if segment is not None:
                    return segment.wall_clock
    return None


class Clips:
    """The node's clips by id. `lookup(stream_id)` finds a stream's live state."""

    def __init__(
        self,
        root: Path,
        lookup: Callable[[int], LiveStream | None],
        on_video: Callable[[Clip, Path], Awaitable[int | None]] | None = None,
    ) -> None:
        self.root = root
        self.lookup = lookup
        self.on_video = on_video
        self.clips: dict[str, Clip] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._removals: set[asyncio.Future[None]] = set()

    def start(self) -> None:
        """Clips do not outlive the node: what a previous run left is deleted."""
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)

    async def create(self, stream_id: int, start: int, duration: int, expiration: int, vod_required: bool) -> Clip:
        live = self.lookup(stream_id)
        assert live is not None
        entries = snapshot(live)
        renditions = sorted(rendition for rendition in entries if rendition != AUDIO)
        heights = await asyncio.to_thread(rendition_heights, live.directory, entries, renditions)
        order = sorted(range(len(renditions)), key=lambda i: -heights[i])
        clip = Clip(
            secrets.token_urlsafe(16),
            stream_id,
            start,
            duration,
            expiration,
            vod_required,
            time.time(),
            [renditions[i] for i in order],
            [heights[i] for i in order],
        )
        self.clips[clip.id] = clip
        clip.task = asyncio.ensure_future(self._cut(clip))
        delay = max(0.0, expiration - time.time())
        self._timers[clip.id] = asyncio.get_running_loop().call_later(delay, self.expire, clip.id)
        return clip

    def of_stream(self, stream_id: int) -> list[Clip]:
        now = time.time()
        return [c for c in self.clips.values() if c.stream_id == stream_id and c.expiration > now]

    def find(self, clip_id: str) -> Clip | None:
        clip = self.clips.get(clip_id)
        return clip if clip is not None and clip.expiration > time.time() else None

    def directory(self, clip: Clip, rendition_index: int) -> Path:
        return self.root / clip.id / str(rendition_index)

    def expire(self, clip_id: str) -> None:
        clip = self.clips.pop(clip_id, None)
        self._timers.pop(clip_id, None)
        if clip is None:
            return
        if clip.task is not None:
            clip.task.cancel()
        removal = asyncio.ensure_future(asyncio.to_thread(shutil.rmtree, self.root / clip.id, True))
        self._removals.add(removal)
        removal.add_done_callback(self._removals.discard)

    async def close(self) -> None:
        for clip_id in list(self.clips):
            timer = self._timers.pop(clip_id, None)
            if timer is not None:
                timer.cancel()
            clip = self.clips.pop(clip_id)
            if clip.task is not None:
                clip.task.cancel()

    async def _cut(self, clip: Clip) -> None:
        """Copies the clip's segments as the window has them, until its end has been copied or
        the stream stops giving more."""
        copies: dict[tuple[int, str], ClipTrackCopy] = {}
        writers = await asyncio.to_thread(self._writers, clip)
        try:
            while True:
                live = self.lookup(clip.stream_id)
                if live is None:
                    break
                entries = snapshot(live)
                done = await asyncio.to_thread(self._copy_new, clip, live.directory, entries, writers, copies)
                if done or live.ended_at is not None:
                    break
                await asyncio.sleep(POLL)
            for writer in writers:
                await asyncio.to_thread(writer.sync)
            clip.complete = True
            if clip.vod_required and self.on_video is not None:
                clip.video_id = await self.on_video(clip, self.directory(clip, 0))
        except Exception:
            log.exception("clip %s of stream %d failed: it plays what it holds", clip.id, clip.stream_id)
            clip.complete = True
        finally:
            for writer in writers:
                writer.close()

    def _writers(self, clip: Clip) -> list[IndexWriter]:
        """Blocking: an index per rendition's recording (its directory made)."""
        return [IndexWriter(self.directory(clip, n)) for n in range(len(clip.renditions))]

    def _copy_new(
        self,
        clip: Clip,
        live_dir: Path,
        entries: dict[str, list[Entry]],
        writers: list[IndexWriter],
        copies: dict[tuple[int, str], ClipTrackCopy],
    ) -> bool:
        """Blocking: copies what the window has newly completed of the clip; True once every
        track holds the clip's end."""
        done = True
        for index, rendition in enumerate(clip.renditions):
            for track, source in (("video", rendition), ("audio", AUDIO)):
                listed = entries.get(source)
                if not listed:
                    continue
                copy = copies.get((index, track))
                if copy is None:
                    copy = copies[index, track] = ClipTrackCopy(live_dir, writers[index], track)
                for segment in overlapping(window(listed[newer(listed, copy.seen) :], source), clip.start, clip.end):
                    copy.copy(segment)
                newest = window(listed[-1:], source)
                done = done and (not newest or newest[0].end >= clip.end)
        return done
