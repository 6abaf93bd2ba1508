"""Recordings on the node: when a stream's recording starts, goes on, splits and ends, and the
video each one becomes.

The worker writes a recording (`packager/recorder.py`, commands `StartRecording` /
`StopRecording`); the node decides everything else here, one `StreamRecording` per stream at
most:
- It starts when a stream with `auto_record` gets a worker (the command is the worker's first,
  so its first segment is recorded), or by `PUT …/start_recording` (the running worker's next
  keyframe).
- A worker that exits (publisher gone, crash, idle stop) leaves the recording waiting
  `recording_grace` seconds: the stream's next worker within it (the main or the backup
  publisher back, a restart) continues the same recording after a discontinuity; else it is
  finalized.
- The worker splits it every `recording_split` seconds (`recording_split` event, the next key
  named by the worker); the ended part is finalized once complete (`recording_stopped`).
- `PUT …/stop_recording` ends it with the segment being written.
A video row (status `pending`) is made at a recording's first progress (so a pull that never
delivers leaves no empty video) or at its stop. Finalizing reads the index on a thread
(`packager/recording_summary.py`) and fills duration, size and picture size (status
`ready`; `error` when nothing was recorded or a write failed), once the storage has taken the
files (`RecordingStorage.publish`: uploaded to the object storage). At node start, every
`pending` video is finalized: nothing records on a node that just started, and a crash left
every synced part readable (`read_recording` recovers an opened segment). While the database
is away, making and finalizing a video row wait for it (`server/db/outage.once_it_answers`).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Collection, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from packager.recording_summary import RecordingSummary, summarize
from server.db.models import Stream, Video
from server.db.outage import OutageNotice, once_it_answers
from server.db.recordings import RecordingRepository, RecordingSettings
from server.delivery.screenshots import screenshot_file
from server.settings import Settings
from server.storage import LocalRecordingStorage, RecordingStorage, new_recording_key
from transcode.contract import (
    Command,
    RecordingFailed,
    RecordingProgress,
    RecordingSplit,
    RecordingStopped,
    StartRecording,
    StopRecording,
)

if TYPE_CHECKING:
    from server.media.status import StatusWriter
    from server.media.worker_process import WorkerProcess
    from server.webhooks.outbox import Outbox

log = logging.getLogger("headwater.recordings")

SCREENSHOT_NAME = "screenshot.jpg"  # the video's screenshot, copied in at finalize
CLOSE_WAIT = 15.0  # seconds the node's shutdown waits for recordings to be finalized


@dataclass(eq=False)
class StreamRecording:
    """A stream's recording on this node: the key being written (a split moves it on)."""

    stream_id: int
    key: str
    record_type: str
    worker: WorkerProcess | None = None  # the worker writing it; None while it waits (grace)
    grace: asyncio.TimerHandle | None = None
    stopping: bool = False
    duration: float = 0.0  # seconds the current key holds
    keys: set[str] = field(default_factory=set)  # every key of this recording not finalized yet


class Recordings:
    def __init__(
        self,
        settings: Settings,
        db_sessions: async_sessionmaker[AsyncSession],
        status: StatusWriter,
        storage: RecordingStorage | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        """`outbox`: the videos' webhooks, written with the video rows below."""
        self.settings = settings
        self.db_sessions = db_sessions
        self.status = status
        self.outbox = outbox
        self.storage = storage or LocalRecordingStorage(settings.recording_dir)  # the node's one (app.py)
        self.streams: dict[int, RecordingSettings] = {}
        self.current: dict[int, StreamRecording] = {}
        self.rows: dict[str, asyncio.Task[Video | None]] = {}  # key → its video row being made
        self.finalizing: set[str] = set()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.outage = OutageNotice("recordings' video rows wait for it")

    async def start(self, keep: Collection[int] = ()) -> None:
        """Load the streams' settings; finalize what the node's last run left recording, but
        the recordings of the streams in `keep` (another node sharing the database runs them)."""
        async with self.db_sessions() as db:
            repository = RecordingRepository(db)
            self.streams = await repository.settings()
            await repository.nothing_records(keep)
            unfinished = await repository.unfinished(keep)
        for key in unfinished:
            log.info("recording %s was not finalized by the node's last run; finalizing it", key)
            self._spawn(self._finalize(key))

    def stream_changed(self, stream_id: int, stream: Stream | None) -> None:
        if stream is None:
            self.streams.pop(stream_id, None)
        else:
            self.streams[stream_id] = RecordingSettings.of(stream)

    # -- workers ----------------------------------------------------------------------------
    def commands(self, stream_id: int, worker: WorkerProcess) -> list[Command]:
        """The first commands of a new worker of the stream: it continues the recording that
        waits (within the grace, or after a crash), or starts one with `auto_record`."""
        recording = self.current.get(stream_id)
        if recording is not None and not recording.stopping:
            if recording.grace is not None:
                recording.grace.cancel()
                recording.grace = None
            recording.worker = worker
            log.info("stream %s: recording %s goes on in a new worker", stream_id, recording.key)
            return [self._start_command(recording, continues=True)]
        stream = self.streams.get(stream_id)
        if stream is None or not stream.auto_record or recording is not None:
            return []
        return [self._start_command(self._new(stream_id, stream, worker))]

    def worker_exited(self, stream_id: int, worker: WorkerProcess) -> None:
        """The recording's worker is gone: a stopping recording is complete; another waits
        for the stream's next worker through the grace."""
        recording = self.current.get(stream_id)
        if recording is None or recording.worker is not worker:
            return
        recording.worker = None
        if recording.stopping or self.settings.recording_grace <= 0:
            self._end(recording)
            return
        loop = asyncio.get_running_loop()
        recording.grace = loop.call_later(self.settings.recording_grace, self._grace_over, recording)

    def _grace_over(self, recording: StreamRecording) -> None:
        recording.grace = None
        if self.current.get(recording.stream_id) is recording and recording.worker is None:
            log.info("stream %s: no publisher within the grace; recording %s ends", recording.stream_id, recording.key)
            self._end(recording)

    # -- the API ----------------------------------------------------------------------------
    def start_recording(self, stream_id: int, worker: WorkerProcess | None) -> bool:
        """`PUT …/start_recording` on a live stream: its worker records from the next keyframe.
        False when no worker of the stream runs here. A recording already running goes on."""
        if worker is None:
            return False
        recording = self.current.get(stream_id)
        if recording is not None and not recording.stopping:
            return True
        stream = self.streams.get(stream_id)
        if stream is None:
            return False
        worker.send(self._start_command(self._new(stream_id, stream, worker)))
        return True

    async def stop_recording(self, stream_id: int) -> Video | None:
        """`PUT …/stop_recording`: the recording ends with the segment being written (at once
        while it waits for a publisher); its video (pending until finalized), or None."""
        recording = self.current.get(stream_id)
        if recording is None or recording.stopping:
            return None
        recording.stopping = True
        key = recording.key
        video = await self._row(recording, key)
        self.status.set(stream_id, recording_duration=None)
        if recording.worker is None or not recording.worker.send(StopRecording(key=key)):
            self._end(recording)
        return video

    # -- the worker's events ---------------------------------------------------------------
    def progress(self, stream_id: int, event: RecordingProgress) -> None:
        recording = self.current.get(stream_id)
        if recording is None or recording.key != event.key:
            return
        recording.duration = event.duration
        if event.key not in self.rows:
            self._row(recording, event.key)  # held in `rows` until finalized
        if not recording.stopping:
            self.status.set(stream_id, recording_duration=round(recording.duration, 1))

    def split(self, stream_id: int, event: RecordingSplit) -> None:
        recording = self.current.get(stream_id)
        if recording is None or recording.key != event.key:
            return
        log.info(
            "stream %s: recording %s split after %.0f s; %s follows",
            stream_id,
            event.key,
            event.duration,
            event.next_key,
        )
        recording.key = event.next_key
        recording.keys.add(event.next_key)
        recording.duration = 0.0

    def stopped(self, stream_id: int, event: RecordingStopped) -> None:
        """A key is complete on disk: a split's ended part, or the stopped recording."""
        recording = self.current.get(stream_id)
        if recording is not None and recording.key == event.key:
            self._end(recording)
        else:
            if recording is not None:
                recording.keys.discard(event.key)
            self._spawn(self._finalize(event.key))

    def failed(self, stream_id: int, event: RecordingFailed) -> None:
        log.error("stream %s: recording %s failed: %s", stream_id, event.key, event.message)
        recording = self.current.get(stream_id)
        if recording is not None and recording.key == event.key:
            self.current.pop(stream_id)
            self.status.set(stream_id, recording_duration=None, recording_video_id=None)
            if recording.grace is not None:
                recording.grace.cancel()
        elif recording is not None:
            recording.keys.discard(event.key)
        owner = recording or StreamRecording(stream_id, event.key, self._record_type(stream_id))
        self._spawn(self._fail(owner, event.key, event.message))

    # -- lifecycle ----------------------------------------------------------------------------
    def _new(self, stream_id: int, stream: RecordingSettings, worker: WorkerProcess) -> StreamRecording:
        key = new_recording_key()
        recording = StreamRecording(stream_id, key, stream.record_type, worker=worker, keys={key})
        self.current[stream_id] = recording
        log.info("stream %s: recording %s (%s) starts", stream_id, key, stream.record_type)
        return recording

    def _start_command(self, recording: StreamRecording, continues: bool = False) -> StartRecording:
        return StartRecording(
            key=recording.key,
            directory=str(self.storage.local_directory(recording.key)),
            record_type=recording.record_type,
            split_seconds=self.settings.recording_split,
            continues=continues,
            recorded=recording.duration if continues else 0.0,
        )

    def _end(self, recording: StreamRecording) -> None:
        """The recording is over: every key of it not finalized yet is (the worker is gone or
        has closed them)."""
        if self.current.get(recording.stream_id) is recording:
            del self.current[recording.stream_id]
            self.status.set(recording.stream_id, recording_duration=None, recording_video_id=None)
        if recording.grace is not None:
            recording.grace.cancel()
            recording.grace = None
        for key in recording.keys:
            self._spawn(self._finalize(key))
        recording.keys.clear()

    def _row(self, recording: StreamRecording, key: str) -> asyncio.Task[Video | None]:
        """The key's video row (made once)."""
        task = self.rows.get(key)
        if task is None:
            task = self.rows[key] = asyncio.ensure_future(self._add_row(recording, key))
        return task

    async def _add_row(self, recording: StreamRecording, key: str) -> Video | None:
        stream = self.streams.get(recording.stream_id)
        started = datetime.now(UTC) - timedelta(seconds=recording.duration)
        name = stream.name if stream else f"stream {recording.stream_id}"
        fields = dict(
            name=f"{name} {started:%Y-%m-%d %H:%M:%S} UTC"[:255],
            stream_id=recording.stream_id,
            status="pending",
            record_type=recording.record_type,
            projection=stream.projection if stream else "regular",
            client_user_id=stream.client_user_id if stream else None,
            recording_key=key,
            recording_started_at=started,
        )

        async def add() -> Video:
            async with self.db_sessions() as db:
                return await RecordingRepository(db).add_video(Video(**fields), self.outbox)

        try:
            video = await once_it_answers(add, self.outage)
        except Exception:
            log.exception("stream %s: could not add the video of recording %s", recording.stream_id, key)
            return None
        if recording.key == key and self.current.get(recording.stream_id) is recording:
            self.status.set(recording.stream_id, recording_video_id=video.id)
        return video

    async def _finalize(self, key: str) -> None:
        """Fill the video from its files (on a thread: a long recording's index is read);
        a recording without media leaves no video."""
        if key in self.finalizing:
            return
        self.finalizing.add(key)
        try:
            row = self.rows.pop(key, None)
            if row is not None:
                await row
            await once_it_answers(lambda: self._fill_video(key), self.outage)
        except Exception:
            log.exception("finalizing recording %s failed", key)
        finally:
            self.finalizing.discard(key)

    async def _fill_video(self, key: str) -> None:
        async with self.db_sessions() as db:
            video = await RecordingRepository(db).video(key)
            stream_id = video.stream_id if video else None
        summary = await asyncio.to_thread(self._finish_files, key, stream_id)
        async with self.db_sessions() as db:
            repository = RecordingRepository(db)
            if video is None:  # nothing made it a video (no complete segment): nothing to keep
                await asyncio.to_thread(self.storage.delete, key)
                return
            if video.status != "pending":
                return
            if summary.duration == 0:
                await repository.set_video(key, self.outbox, status="error", error="nothing was recorded")
                return
            await asyncio.to_thread(self.storage.publish, key)  # raises: pending, the next start tries again
            await repository.set_video(
                key,
                self.outbox,
                status="ready",
                duration=round(summary.duration * 1000),
                origin_size=summary.size,
                width=summary.width,
                height=summary.height,
            )
        log.info("recording %s finalized: %.1f s, %d bytes", key, summary.duration, summary.size)

    async def video_of_clip(self, stream_id: int, clip_dir: Path, started: datetime, record_type: str) -> int | None:
        """A `ready` video from a clip's recording (`vod_required`): its files copied into the
        recording storage under a new key (the clip's own go when it expires), the row made
        complete at once. None when the clip holds no media."""
        key = new_recording_key()
        directory = self.storage.local_directory(key)
        summary = await asyncio.to_thread(_copy_recording, clip_dir, directory)
        if summary.duration == 0:
            await asyncio.to_thread(self.storage.delete, key)
            return None
        await asyncio.to_thread(self.storage.publish, key)
        stream = self.streams.get(stream_id)
        name = stream.name if stream else f"stream {stream_id}"
        video = Video(
            name=f"{name} clip {started:%Y-%m-%d %H:%M:%S} UTC"[:255],
            stream_id=stream_id,
            status="ready",
            record_type=record_type,
            projection=stream.projection if stream else "regular",
            client_user_id=stream.client_user_id if stream else None,
            recording_key=key,
            recording_started_at=started,
            duration=round(summary.duration * 1000),
            origin_size=summary.size,
            width=summary.width,
            height=summary.height,
        )
        async with self.db_sessions() as db:
            video = await RecordingRepository(db).add_video(video, self.outbox)
        log.info("stream %d: clip made video %d (%.1f s)", stream_id, video.id, summary.duration)
        return video.id

    def _finish_files(self, key: str, stream_id: int | None) -> RecordingSummary:
        """The stream's last screenshot goes in as the video's; the summary of what is there."""
        directory = self.storage.local_directory(key)
        if stream_id is not None and directory.is_dir():
            picture = screenshot_file(self.settings.screenshot_dir, stream_id)
            try:
                shutil.copyfile(picture, directory / SCREENSHOT_NAME)
            except OSError:
                pass  # no screenshot (yet)
        return summarize(directory)

    async def _fail(self, recording: StreamRecording, key: str, message: str) -> None:
        """No half-written video is ever ready: it is an error, with the reason."""
        await self._row(recording, key)
        self.rows.pop(key, None)
        async with self.db_sessions() as db:
            await RecordingRepository(db).set_video(key, self.outbox, status="error", error=message)

    def _record_type(self, stream_id: int) -> str:
        stream = self.streams.get(stream_id)
        return stream.record_type if stream else "origin"

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(work)
        self.tasks.add(task)  # held: the loop keeps weak references
        task.add_done_callback(self.tasks.discard)

    async def close(self) -> None:
        """The node stops (its workers have exited): every recording is finalized."""
        for recording in list(self.current.values()):
            self._end(recording)
        if self.tasks:
            _, waiting = await asyncio.wait(self.tasks, timeout=CLOSE_WAIT)
            for task in waiting:  # the database is away: the next start finalizes them
                task.cancel()


def _copy_recording(source: Path, target: Path) -> RecordingSummary:
    shutil.copytree(source, target)
    return summarize(target)
