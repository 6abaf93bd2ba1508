"""The recorded videos the node plays back, read once and kept while they are watched.

A video is played from its recording (`packager/recording_layout.read_recording`), through
the recording storage: its index and inits are read on a thread when it is first asked for,
and its playlists, MPD and MP4 layout are made from them at once (text and a list of
offsets: no media is read). The few most recently played videos are kept; a deleted video is
forgotten at once (`forget`), so its URLs answer 404 from then on. Another node sharing the
database and the object storage may delete it too: a kept video is checked again in the
database every `RECHECK` seconds it is played (while the database is away it plays on).

What may be played: a `ready` video, named in the URL by its id and its slug (the
recording's random key, compared in constant time), so its URLs cannot be guessed from the id.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packager.isobmff import BoxError
from packager.recording_layout import Recording, read_recording
from packager.vod_dash import vod_mpd
from packager.vod_hls import PLAYLISTS, vod_master_playlist, vod_media_playlist
from packager.vod_mp4 import Mp4File, mp4_file
from packager.vod_tracks import read_init_facts
from server.db.outage import DATABASE_ERRORS, is_unavailable
from server.db.videos import VideoRepository
from server.storage import RecordingStorage
from server.urls import CMAF_MASTER, DASH_MANIFEST, SCREENSHOT

log = logging.getLogger(__name__)

KEPT_VIDEOS = 16  # a 4-hour recording's index, texts and layout: about 16 MB
RECHECK = 5.0  # seconds a kept video plays before the database is asked whether it still may


@dataclass(frozen=True)
class VodVideo:
    key: str
    recording: Recording
    texts: dict[str, bytes]  # playlists and MPD by name
    files: dict[str, tuple[Path, int]]  # media by name in the recording: (path, bytes to serve)
    mp4: Mp4File | None  # None: the tracks' inits could not be merged
    has_screenshot: bool


def load_video(storage: RecordingStorage, key: str) -> VodVideo | None:
    """Blocking (reads the index and the inits). None when there is nothing to play."""
    recording = read_recording(storage.reading_directory(key))
    if not any(recording.tracks.values()):
        return None
    try:
        facts = read_init_facts(recording)
    except (OSError, BoxError) as exc:
        log.warning("recording %s has an unreadable init: %s", key, exc)
        return None
    texts = {CMAF_MASTER: vod_master_playlist(recording, facts), DASH_MANIFEST: vod_mpd(recording, facts)}
    files: dict[str, tuple[Path, int]] = {}
    for track, segments in recording.tracks.items():
        texts[PLAYLISTS[track]] = vod_media_playlist(segments)
        for segment in segments:
            files[segment.file] = (recording.directory / segment.file, segment.size)
    for init in facts:
        path = recording.directory / init
        files[init] = (path, path.stat().st_size)
    try:
        mp4: Mp4File | None = mp4_file(recording)
    except (OSError, BoxError) as exc:
        log.warning("recording %s has no MP4 download: %s", key, exc)
        mp4 = None
    encoded = {name: text.encode() for name, text in texts.items()}
    return VodVideo(key, recording, encoded, files, mp4, storage.file(key, SCREENSHOT) is not None)


class VodLibrary:
    """`find(video_id, slug)`: the video to play, or None (unknown, not ready, wrong slug)."""

    def __init__(self, storage: RecordingStorage, db_sessions: Callable[[], Any]) -> None:
        self.storage = storage
        self.db_sessions = db_sessions
        self.kept: OrderedDict[int, VodVideo] = OrderedDict()
        self.checked: dict[int, float] = {}  # video id → when the database last said it plays
        self.loading: dict[int, asyncio.Future[VodVideo | None]] = {}

    async def find(self, video_id: int, slug: str) -> VodVideo | None:
        video = self.kept.get(video_id)
        if video is not None and time.monotonic() - self.checked.get(video_id, 0.0) > RECHECK:
            video = await self._still_playable(video_id, video)
        if video is None:
            video = await self._load(video_id)
        if video is None or not hmac.compare_digest(video.key.encode(), slug.encode()):
            return None
        self.kept.move_to_end(video_id)
        return video

    async def media_file(self, video: VodVideo, name: str) -> Path | None:
        """A file of the video on local disk: at once when it is there, else fetched on a
        thread (from the object storage); None when it is gone (the video was deleted)."""
        path = self.storage.cached(video.key, name)
        if path is not None:
            return path
        return await asyncio.to_thread(self.storage.file, video.key, name)

    def forget(self, video_id: int) -> None:
        self.kept.pop(video_id, None)
        self.checked.pop(video_id, None)
        self.loading.pop(video_id, None)

    async def _still_playable(self, video_id: int, video: VodVideo) -> VodVideo | None:
        """The kept video, or None (forgotten) when another node deleted it."""
        self.checked[video_id] = time.monotonic()  # one check at a time, not one per request
        try:
            async with self.db_sessions() as db:
                row = await VideoRepository(db).playable(video_id)
        except DATABASE_ERRORS as error:
            if not is_unavailable(error):
                raise
            return video
        if row is not None and row.recording_key == video.key:
            return video
        self.forget(video_id)
        return None

    async def _load(self, video_id: int) -> VodVideo | None:
        """One load per video however many ask at once."""
        pending = self.loading.get(video_id)
        if pending is None:
            pending = self.loading[video_id] = asyncio.ensure_future(self._read(video_id))
            pending.add_done_callback(lambda task: self._loaded(video_id, task))
        return await asyncio.shield(pending)

    def _loaded(self, video_id: int, task: asyncio.Future[VodVideo | None]) -> None:
        if self.loading.get(video_id) is not task:
            return  # forgotten (deleted) while it loaded
        del self.loading[video_id]
        if task.cancelled() or task.exception() is not None or task.result() is None:
            return
        self.kept[video_id] = task.result()  # type: ignore[assignment]
        self.checked[video_id] = time.monotonic()
        while len(self.kept) > KEPT_VIDEOS:
            self.kept.popitem(last=False)

    async def _read(self, video_id: int) -> VodVideo | None:
        async with self.db_sessions() as db:
            row = await VideoRepository(db).playable(video_id)
            key = row.recording_key if row is not None else None
        if key is None:
            return None
        return await asyncio.to_thread(load_video, self.storage, key)
