"""A stream worker's recordings, fed by the live output's own events.

The live CMAF output announces each part of every track (`part`: where its bytes are in the
segment file) and each segment once complete (`segment`: its timing). A recording follows
two of those tracks (one video variant and the shared audio) and copies each part's bytes
into its own segment files as the part is announced, in the layout of
`packager/recording_layout.py`. So a recording costs a copy of bytes the page cache holds,
never a second mux, and its segments are the live ones, byte for byte.

Every file operation runs on the worker's `FileThread`, in the order queued: the packaging
thread only decides (which recording a segment belongs to, file names, index lines) and
never waits for the disk. The copy is `os.copy_file_range` from the live file (no hard link:
the live output opens its files with O_TRUNC and a later worker may reuse a name), queued
before any deletion of that file the window queues later. Files are synced at most
SYNC_EVERY seconds apart, so a crash of the worker or the node loses at most that much.

A recording starts at the first segment no track has announced a part of (the next
keyframe of the video), and ends at the end of a segment: a stop waits for the segment
being written to complete; a split (`split_seconds` recorded) ends one recording at a
segment boundary and continues into the next, named by the worker, so no frame is lost or
written twice at the seam. A write error ends the recording (`recording_failed`); the stream
goes on. Events for the node (plain dicts, typed by `transcode/contract.py`):
`recording_progress`, `recording_split`, `recording_failed`, `recording_stopped`.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packager.recording_layout import IndexWriter, RecordedSegment

log = logging.getLogger("headwater.recorder")

SYNC_EVERY = 1.0  # seconds between syncs of a recording's open files (the issue allows 2 s of loss)
AUDIO = "audio"  # the live output's audio rendition
CROSS_FILESYSTEM = (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL)  # copy_file_range refused
NUMBERED = re.compile(r"^(?:init_)?(\d+)\.(?:m4s|mp4)$")

Event = dict[str, Any]
Job = Callable[[], None]


def next_recording_key() -> str:
    """The key of the recording a split continues into: the rule of `server/storage.new_recording_key`."""
    return secrets.token_urlsafe(16)


@dataclass(eq=False)
class _SegmentFile:
    """One recorded segment being written: its name, fd and size are the file thread's."""

    msn: int
    discontinuity: bool
    wall_clock: float
    file: str = ""
    init: str = ""
    fd: int = -1
    written: int = 0


@dataclass
class _TrackWriter:
    """One recorded track: its live rendition, the numbering of its files, its open segment.
    `live_init` and `current` are the packaging thread's; the numbering is the file thread's."""

    name: str  # "video" | "audio"
    rendition: str
    live_init: str | None = None  # the live init the last recorded init was copied from
    current: _SegmentFile | None = None
    done: bool = False  # every segment up to the recording's last msn is complete
    next_segment: int = 0
    next_init: int = 0
    init: str | None = None  # the copy of `live_init`, relative to the recording


@dataclass(eq=False)
class _Recording:
    key: str
    directory: Path
    split_seconds: float | None
    record_type: str = "origin"
    continues: bool = False
    start_after: int | None = None  # segments up to this msn were announced before the start
    first_msn: int | None = None
    last_msn: int | None = None  # set when the recording is cut (stop, split)
    newest_msn: int | None = None  # the newest segment any of its tracks opened
    stopping: bool = False
    tracks: dict[str, _TrackWriter] = field(default_factory=dict)
    duration: float = 0.0  # seconds of complete video segments (audio's without video)
    # the file thread's
    index: IndexWriter | None = None
    open_files: set[_SegmentFile] = field(default_factory=set)
    synced_at: float = 0.0
    failure: str | None = None  # the recording writes nothing more
    lock: threading.Lock = field(default_factory=threading.Lock)

    def takes(self, msn: int) -> bool:
        if self.first_msn is not None and msn < self.first_msn:
            return False
        if self.start_after is not None and msn <= self.start_after:
            return False
        return self.last_msn is None or msn <= self.last_msn

    @property
    def cut_due(self) -> bool:
        return self.last_msn is None and (
            self.stopping or (self.split_seconds is not None and self.duration >= self.split_seconds)
        )


class Recorder:
    """The worker's recordings: `start`, `stop`, and `observe` with every live output event.
    `run(job)` queues a job on the file thread; `emit` sends an event to the node;
    `video_rendition(record_type)` names the live rendition a recording of that type takes its
    video from (asked once the output runs)."""

    def __init__(
        self,
        live_dir: Path,
        run: Callable[[Job], None],
        emit: Callable[[Event], None],
        video_rendition: Callable[[str], str] = lambda _record_type: "origin",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.live_dir = live_dir
        self.run = run
        self.emit = emit
        self.video_rendition = video_rendition
        self.clock = clock
        self.recordings: list[_Recording] = []  # a split's ending one may still finish beside its follower
        self.highest_msn: int | None = None  # the newest segment any track announced a part of
        self.inits: dict[str, str] = {}  # rendition → its live init segment now
        self.same_filesystem = True  # the file thread's: copy_file_range works (else sendfile)
        self.followers: dict[str, str] = {}  # a split recording's key → the key it goes on in

    # -- commands -----------------------------------------------------------------------------
    def start(
        self,
        key: str,
        directory: Path,
        *,
        record_type: str = "origin",
        split_seconds: float | None = None,
        continues: bool = False,
        recorded: float = 0.0,
    ) -> None:
        """Record from the next segment on (`continues`: into the existing recording, after a
        discontinuity, `recorded` seconds long already). A recording already running goes on
        (a repeated command)."""
        if any(r.key == key for r in self.recordings):
            return
        recording = _Recording(key, directory, split_seconds or None, record_type, continues, self.highest_msn)
        recording.duration = recorded
        self.recordings.append(recording)
        log.info("recording %s starts at the next keyframe%s", key, " (continued)" if continues else "")

    def stop(self, key: str) -> None:
        """End the recording with the segments being written: it is cut before the next
        segment any of its tracks opens (or when the worker ends)."""
        key = self._latest_key(key)
        for recording in self.recordings:
            if recording.key == key and recording.last_msn is None:
                recording.stopping = True
                if not recording.tracks:  # nothing recorded yet
                    self._cut(recording, -1)
                return

    def _latest_key(self, key: str) -> str:
        """The key a recording goes on in now (the node may not have heard of a split yet)."""
        while key in self.followers:
            key = self.followers[key]
        return key

    # -- the live output's events ------------------------------------------------------------
    def observe(self, event: Event) -> None:
        """Follow one live output event. A fault here (a bug) ends the recordings, never the stream."""
        try:
            self._observe(event)
        except Exception as error:
            log.exception("the recorder failed on a %s event", event.get("event"))
            for recording in self.recordings:
                recording.failure = f"recorder error: {error}"
                self.emit({"event": "recording_failed", "key": recording.key, "message": recording.failure})
            self.recordings.clear()

    def _observe(self, event: Event) -> None:
        kind = event.get("event")
        if kind == "init":
            self.inits[event["rendition"]] = event["path"]
        elif kind == "part":
            self.highest_msn = max(self.highest_msn if self.highest_msn is not None else event["msn"], event["msn"])
            for recording in list(self.recordings):
                self._part(recording, event)
        elif kind == "segment":
            for recording in list(self.recordings):
                self._segment(recording, event)
        elif kind == "ended":
            for recording in list(self.recordings):
                self._ended(recording)

    def _track_of(self, recording: _Recording, rendition: str) -> str | None:
        """The recording's track a rendition's events are for: its video is the rendition it
        began with, or the one that follows it (`transcoded` when the transcoder shed the top)."""
        if rendition == AUDIO:
            return "audio"
        video = recording.tracks.get("video")
        if video is not None and rendition == video.rendition:
            return "video"
        return "video" if rendition == self.video_rendition(recording.record_type) else None

    def _part(self, recording: _Recording, event: Event) -> None:
        name = self._track_of(recording, event["rendition"])
        if name is None or self._failed(recording):
            return
        msn = event["msn"]
        if recording.last_msn is not None and msn > recording.last_msn:
            self._finish_track(recording, name)
            return
        if not recording.takes(msn):
            return
        track = recording.tracks.get(name)
        if track is not None and track.rendition != event["rendition"]:  # the recorded one was shed
            if event["part"] != 0 or (track.current is not None and msn <= track.current.msn):
                return  # it goes on at its next segment, after what the shed one wrote
            if track.current is not None:  # cut short by the shed: kept as opened (its complete parts)
                self._close_later(recording, track.current)
                track.current = None
            track.rendition = event["rendition"]
            log.info("recording %s: its video goes on from %s", recording.key, track.rendition)
        if track is None or track.current is None or track.current.msn != msn:
            if event["part"] != 0:
                return  # a segment begun before this track was recorded
            if recording.newest_msn is None or msn > recording.newest_msn:
                if recording.cut_due:  # no track has anything of this segment yet: cut here
                    self._cut(recording, msn - 1, following_msn=msn)
                    for follower in self.recordings:
                        if follower.first_msn == msn and follower is not recording:
                            self._part(follower, event)
                    return
                recording.newest_msn = msn
            if recording.first_msn is None:
                recording.first_msn = msn
            if track is None:
                track = recording.tracks[name] = _TrackWriter(name, event["rendition"])
                self.run(lambda: self._guarded(recording, lambda: self._number_from_disk(recording, track)))
            self._open_segment(recording, track, msn)
        segment = track.current
        assert segment is not None
        source = self.live_dir / event["file"]
        offset, size = event["offset"], event["size"]
        self.run(lambda: self._guarded(recording, lambda: self._copy(recording, segment, source, offset, size)))

    def _open_segment(self, recording: _Recording, track: _TrackWriter, msn: int) -> None:
        live_init = self.inits[track.rendition]  # always announced before the track's first part
        first = track.live_init is None
        discontinuity = (recording.continues and first) or (not first and live_init != track.live_init)
        if track.current is not None:  # never completed (cannot happen within one worker; kept whole)
            self._close_later(recording, track.current)
        if live_init != track.live_init:
            track.live_init = live_init
            self.run(lambda: self._guarded(recording, lambda: self._copy_init(recording, track, live_init)))
        segment = track.current = _SegmentFile(msn, discontinuity, time.time())
        self.run(lambda: self._guarded(recording, lambda: self._begin(recording, track, segment)))

    def _segment(self, recording: _Recording, event: Event) -> None:
        name = self._track_of(recording, event["rendition"])
        track = recording.tracks.get(name) if name else None
        if track is None or self._failed(recording) or track.current is None or track.current.msn != event["msn"]:
            return
        segment, track.current = track.current, None
        self.run(lambda: self._guarded(recording, lambda: self._complete(recording, segment, event)))
        if name == "video" or "video" not in recording.tracks:
            recording.duration += event["ticks"] / event["timescale"]
            self.emit({"event": "recording_progress", "key": recording.key, "duration": round(recording.duration, 3)})
        if name is not None and recording.last_msn is not None and event["msn"] >= recording.last_msn:
            self._finish_track(recording, name)

    def _cut(self, recording: _Recording, last_msn: int, following_msn: int | None = None) -> None:
        """The recording ends with segment `last_msn`; a split continues from the next one
        into a new recording (`following_msn`: the segment whose opening made the cut)."""
        recording.last_msn = last_msn
        if not recording.stopping and following_msn is not None:
            key = next_recording_key()
            follower = _Recording(key, recording.directory.parent / key, recording.split_seconds, recording.record_type)
            follower.first_msn = following_msn
            self.recordings.append(follower)
            self.followers[recording.key] = key
            self.emit(
                {
                    "event": "recording_split",
                    "key": recording.key,
                    "next_key": key,
                    "duration": round(recording.duration, 3),
                }
            )
            log.info("recording %s split after %.1f s; %s follows", recording.key, recording.duration, key)
        for name, track in list(recording.tracks.items()):
            if track.current is None:
                self._finish_track(recording, name)
        if not recording.tracks:
            self._close(recording)

    def _finish_track(self, recording: _Recording, name: str) -> None:
        track = recording.tracks.get(name)
        if track is None or track.done:
            return
        track.done = True
        if track.current is not None:  # not complete by the end (never within one worker)
            self._close_later(recording, track.current)
            track.current = None
        if all(t.done for t in recording.tracks.values()):
            self._close(recording)

    def _close_later(self, recording: _Recording, segment: _SegmentFile) -> None:
        self.run(lambda: self._guarded(recording, lambda: self._close_file(recording, segment)))

    def _ended(self, recording: _Recording) -> None:
        """The live output ended (the worker finishes): every segment is complete. A stopping
        recording is done; another waits for the node (a publisher back within the grace
        continues it in the next worker)."""
        if recording.stopping or recording.last_msn is not None:
            self._close(recording)
        else:
            self.run(lambda: self._guarded(recording, lambda: self._sync_files(recording)))

    def _close(self, recording: _Recording) -> None:
        """Sync and close its files, then tell the node it is complete."""
        if recording in self.recordings:
            self.recordings.remove(recording)

        def close() -> None:
            self._guarded(recording, lambda: self._sync_files(recording, close=True))
            if recording.failure is None:
                self.emit(
                    {"event": "recording_stopped", "key": recording.key, "duration": round(recording.duration, 3)}
                )

        self.run(close)

    def _failed(self, recording: _Recording) -> bool:
        if recording.failure is None:
            return False
        if recording in self.recordings:
            self.recordings.remove(recording)
        return True

    # -- on the file thread --------------------------------------------------------------------
    def _guarded(self, recording: _Recording, job: Job) -> None:
        """Run a recording's job unless it failed; an OSError fails it (one event, one log line)."""
        if recording.failure is not None:
            return
        try:
            job()
        except OSError as error:
            with recording.lock:
                if recording.failure is not None:
                    return
                recording.failure = f"recording write failed: {error.strerror or error}"
            log.error("recording %s stopped: %s", recording.key, recording.failure)
            self._sync_files(recording, close=True, quiet=True)
            self.emit({"event": "recording_failed", "key": recording.key, "message": recording.failure})

    def _number_from_disk(self, recording: _Recording, track: _TrackWriter) -> None:
        """A continued recording's files go on after those already there."""
        try:
            names = os.listdir(recording.directory / track.name)
        except FileNotFoundError:
            return
        for name in names:
            match = NUMBERED.match(name)
            if match is None:
                continue
            number = int(match.group(1)) + 1
            if name.startswith("init_"):
                track.next_init = max(track.next_init, number)
            else:
                track.next_segment = max(track.next_segment, number)

    def _copy_init(self, recording: _Recording, track: _TrackWriter, live_init: str) -> None:
        if recording.index is None:  # the recording's first file
            recording.index = IndexWriter(recording.directory)
            recording.synced_at = self.clock()
        data = (self.live_dir / live_init).read_bytes()
        (recording.directory / track.name).mkdir(parents=True, exist_ok=True)
        track.init = f"{track.name}/init_{track.next_init}.mp4"
        track.next_init += 1
        fd = os.open(recording.directory / track.init, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, data)
            os.fdatasync(fd)
        finally:
            os.close(fd)

    def _begin(self, recording: _Recording, track: _TrackWriter, segment: _SegmentFile) -> None:
        assert recording.index is not None and track.init is not None
        segment.file = f"{track.name}/{track.next_segment}.m4s"
        segment.init = track.init
        track.next_segment += 1
        segment.fd = os.open(recording.directory / segment.file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        recording.open_files.add(segment)
        opened = RecordedSegment(
            track.name, segment.file, segment.init, wall_clock=segment.wall_clock, discontinuity=segment.discontinuity
        )
        recording.index.append(opened)

    def _copy(self, recording: _Recording, segment: _SegmentFile, source: Path, offset: int, size: int) -> None:
        if segment.fd < 0:
            return
        fd = os.open(source, os.O_RDONLY)
        try:
            copied = 0
            while copied < size:
                count = self._copy_range(fd, segment, offset + copied, size - copied)
                if count == 0:
                    raise OSError(errno.EIO, f"{source} ended {size - copied} bytes early")
                copied += count
                segment.written += count
        finally:
            os.close(fd)
        if self.clock() - recording.synced_at >= SYNC_EVERY:
            self._sync_files(recording)

    def _copy_range(self, source: int, segment: _SegmentFile, offset: int, count: int) -> int:
        """Bytes of `source` appended to the segment in the kernel: `copy_file_range`, or
        `sendfile` where that refuses (another filesystem: EXDEV since Linux 5.19)."""
        if self.same_filesystem:
            try:
                return os.copy_file_range(source, segment.fd, count, offset, segment.written)
            except OSError as error:
                if error.errno not in CROSS_FILESYSTEM:
                    raise
                self.same_filesystem = False
                log.info("recordings are on another filesystem than the live output: copied with sendfile")
        os.lseek(segment.fd, segment.written, os.SEEK_SET)
        return os.sendfile(segment.fd, source, offset, count)

    def _complete(self, recording: _Recording, segment: _SegmentFile, event: Event) -> None:
        assert recording.index is not None
        if segment.fd < 0:
            return
        track = segment.file.split("/")[0]
        recording.index.append(
            RecordedSegment(
                track,
                segment.file,
                segment.init,
                event["start"],
                event["ticks"],
                event["timescale"],
                segment.written,
                event["wall_clock"],
                segment.discontinuity or bool(event["discontinuity"]),
                complete=True,
            )
        )
        self._close_file(recording, segment)

    def _close_file(self, recording: _Recording, segment: _SegmentFile) -> None:
        recording.open_files.discard(segment)
        if segment.fd >= 0:
            fd, segment.fd = segment.fd, -1
            try:
                os.fdatasync(fd)
            finally:
                os.close(fd)

    def _sync_files(self, recording: _Recording, close: bool = False, quiet: bool = False) -> None:
        """The open segment files and the index made durable (and closed)."""
        try:
            for segment in list(recording.open_files):
                os.fdatasync(segment.fd)
                if close:
                    self._close_file(recording, segment)
            if recording.index is not None:
                recording.index.sync()
                if close:
                    recording.index.close()
            recording.synced_at = self.clock()
        except OSError:
            if not quiet:
                raise


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
