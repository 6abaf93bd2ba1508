"""The supervisor: admits publishers, runs one worker per live stream, keeps status true.

A publisher is admitted when its stream exists, is active, the token matches, no other kind
of source feeds it (`sources`: pull, WHIP) and its slot (main: app `in`, backup: app
`backup`; RTMP or SRT) is free: server/media/publish_gate.py, whose `PublishGate` keeps
what SRT's listen callback checks in memory. A stream with any publisher has one `PushSession`
(server/media/push.py) that owns the stream's worker and decides whose bytes feed it: main
while it sends, the backup when main is gone or silent. Whatever source runs them
(server/media/source.py), a stream's workers follow one another through its `Succession`
(server/media/succession.py), which also holds what the node serves of the stream.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ingest.publish import PublishRejected, PublishRequest
from packager.resume import ResumePoint
from server.db.models import Stream
from server.db.streams import StreamRepository
from server.delivery.live_state import LiveStream
from server.delivery.screenshots import screenshot_file
from server.failed_attempts import PUBLISH, FailedAttempts, address_of
from server.media.ladders import ladder_of
from server.media.publish_gate import Credentials, Occupancy, PublishGate, check, requested
from server.media.push import Publisher, PushSession
from server.media.recordings import Recordings
from server.media.restreams import Restreams
from server.media.source import Sources
from server.media.status import StatusWriter
from server.media.succession import Succession, restore_margin
from server.media.worker_process import WorkerProcess
from server.metrics.session_flush import SessionFlush
from server.metrics.stream_meter import StreamMeters
from server.metrics.viewer_sessions import TICK
from server.overlays.live import LiveOverlays
from server.settings import Settings
from server.storage import RecordingStorage
from server.urls import utc_timing_url
from server.webhooks.outbox import Outbox
from transcode.contract import Command, Rendition, WorkerConfig

log = logging.getLogger("headwater.supervisor")


class Supervisor:
    def __init__(
        self,
        settings: Settings,
        db_sessions: async_sessionmaker[AsyncSession],
        storage: RecordingStorage | None = None,
        outbox: Outbox | None = None,
        failed_attempts: FailedAttempts | None = None,
    ) -> None:
        """`outbox`: the node's webhooks (`server/webhooks/`), written with the status they report."""
        self.settings = settings
        self.failed_attempts = failed_attempts or FailedAttempts(
            settings.failed_attempts_burst, settings.failed_attempts_refill
        )
        self.db_sessions = db_sessions
        self.status = StatusWriter(db_sessions, outbox=outbox)
        self.recordings = Recordings(settings, db_sessions, self.status, storage, outbox)
        self.restreams = Restreams(db_sessions, outbox)  # what each live stream forwards to
        self.sources = Sources(changed=self._sources_changed)  # what feeds each stream: push, pull, WHIP
        self.successions: dict[int, Succession] = {}
        # what /metrics shows per stream, and the viewer sessions the statistics keep
        self.meters = StreamMeters(settings.on_rest_grid(TICK), keep_changed=settings.statistics)
        self.session_flush = (  # the viewer sessions and live minutes into SQL, for the statistics API
            SessionFlush(
                self.meters,
                db_sessions,
                settings.on_rest_grid(settings.statistics_flush_interval),
                live_here=lambda: bool(self.sources.by_stream),
            )
            if settings.statistics
            else None
        )
        self.overlays = LiveOverlays(
            db_sessions, self._to_workers, self._fed, allow_private=settings.overlay_allow_private
        )
        self.syncs: set[asyncio.Task[None]] = set()
        self.gate = PublishGate()  # what SRT's listen callback admits from (server/media/publish_gate.py)
        self.rereading: set[int] = set()  # streams whose credentials are being read again
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """A node that starts has no live stream: none is live in the DB, and whatever is
        under `live/` is what its workers left at the last stop (final playlists and the
        last window of each stream, tens of MB each)."""
        self._loop = asyncio.get_running_loop()
        await self.status.reset_all()
        await self._load_credentials()
        await self.recordings.start()
        await self.restreams.start()
        await self._restore_numbering()
        await self._load_dvr_windows()
        await asyncio.to_thread(_empty_directory, self.settings.live_dir)
        self.status.start()
        self.meters.start()
        if self.session_flush is not None:
            self.session_flush.start()

    async def _restore_numbering(self) -> None:
        """Every stream goes on from the resume point stored by the node's last run."""
        async with self.db_sessions() as db:
            rows = await StreamRepository(db).resume_points()
        margin = restore_margin(self.settings.segment_target)
        for stream_id, stored in rows:
            try:
                point = ResumePoint.from_json(stored)
            except (KeyError, TypeError, ValueError):
                point = None
            if point is None:
                log.warning("stream %s: stored resume point unreadable; its numbering starts over", stream_id)
                continue
            self.succession(stream_id).resume.restore(point, margin)

    async def _load_credentials(self) -> None:
        async with self.db_sessions() as db:
            rows = await StreamRepository(db).publish_credentials()
        self.gate.load({stream_id: Credentials(*fields) for stream_id, *fields in rows})

    async def _load_dvr_windows(self) -> None:
        async with self.db_sessions() as db:
            rows = await StreamRepository(db).dvr_windows()
        for stream_id, seconds in rows:
            self.succession(stream_id).set_dvr(float(seconds))

    # -- admission ---------------------------------------------------------------------------
    def vet(self, request: PublishRequest) -> str | None:
        """Every check of `authorize` from the gate's memory, admitting nobody: the stream's SRT
        passphrase. Runs on libsrt's thread and never waits on the loop. A stream the gate
        does not know, or whose token does not match, is read again from the database in the
        background (changed by another node?), so the caller's next try sees it."""
        self._refuse_throttled(request)
        try:
            return self.gate.vet(request)
        except PublishRejected as rejected:
            self._count_failure(request, rejected)
            if not rejected.busy and request.name.isdigit() and self._loop is not None:
                self._loop.call_soon_threadsafe(self._reread, int(request.name))
            raise

    async def authorize(self, request: PublishRequest) -> Publisher:
        self._refuse_throttled(request)
        try:
            stream, slot = await self._check(request)
        except PublishRejected as rejected:
            self._count_failure(request, rejected)
            raise
        push = self.sources.find(stream.id, PushSession)
        if push is None:
            async with self.db_sessions() as db:
                renditions = await ladder_of(db, stream)
            push = self.sources.find(stream.id, PushSession)  # another publisher of this stream won the race
            if push is None:
                push = PushSession(self, stream, renditions)
                self.sources.add(push)
        publisher = push.join(slot, request)
        log.info("stream %s: %s publisher %s admitted (%s)", stream.id, slot, request.peer, request.protocol)
        return publisher

    async def _check(self, request: PublishRequest) -> tuple[Stream, str]:
        """`publish_gate.check` on the stream's row read now (the gate keeps it too)."""
        _, stream_id = requested(request)
        async with self.db_sessions() as db:
            stream = await StreamRepository(db).get(stream_id)
        self.gate.stream_changed(stream_id, Credentials.of(stream) if stream is not None else None)
        slot = check(request, Credentials.of(stream) if stream is not None else None, self._occupancy(stream_id))
        assert stream is not None
        return stream, slot

    def _refuse_throttled(self, request: PublishRequest) -> None:
        """An address that failed too often is refused before any check (server/failed_attempts.py)."""
        if self.failed_attempts.blocked(PUBLISH, address_of(request.peer)):
            raise PublishRejected("too many failed attempts from this address", throttled=True)

    def _count_failure(self, request: PublishRequest, rejected: PublishRejected) -> None:
        """A refusal that may be a guess (not a taken slot) counts against the address."""
        if not rejected.busy:
            self.failed_attempts.failed(PUBLISH, address_of(request.peer), request.peer)

    def _occupancy(self, stream_id: int) -> Occupancy:
        push = self.sources.find(stream_id, PushSession)
        return Occupancy(
            self.sources.held_by_another_kind(stream_id, PushSession),
            frozenset(push.slots) if push is not None else frozenset(),
        )

    def occupancy_changed(self, stream_id: int) -> None:
        """A source or a publisher of the stream came or went: the gate follows."""
        self.gate.occupied(stream_id, self._occupancy(stream_id))

    def _reread(self, stream_id: int) -> None:
        if stream_id not in self.rereading:
            self.rereading.add(stream_id)
            task = asyncio.create_task(self._reread_credentials(stream_id))
            self.syncs.add(task)
            task.add_done_callback(self.syncs.discard)

    async def _reread_credentials(self, stream_id: int) -> None:
        try:
            async with self.db_sessions() as db:
                stream = await StreamRepository(db).get(stream_id)
            self.gate.stream_changed(stream_id, Credentials.of(stream) if stream is not None else None)
        except Exception:
            log.exception("stream %s: reading its credentials failed", stream_id)
        finally:
            self.rereading.discard(stream_id)

    def session_ended(self, push: PushSession) -> None:
        self.sources.remove(push)

    # -- overlays -------------------------------------------------------------------------------
    def _fed(self, stream_id: int) -> bool:
        return bool(self.sources.feeding(stream_id))

    def _sources_changed(self, stream_id: int) -> None:
        """A source came or went: a stream that goes live renders its overlays, one that ends
        here drops them."""
        self.occupancy_changed(stream_id)
        if self._fed(stream_id):
            task = asyncio.create_task(self._sync_overlays(stream_id))
            self.syncs.add(task)  # held: the loop keeps weak references
            task.add_done_callback(self.syncs.discard)
        else:
            self.overlays.stream_ended(stream_id)

    async def _sync_overlays(self, stream_id: int) -> None:
        """A failed sync is one log line (nobody awaits the task: its error would otherwise be
        "never retrieved" at collection, once per publish under a storm of publishes)."""
        try:
            await self.overlays.sync(stream_id)
        except Exception as error:
            log.warning("stream %s: its overlays could not be read: %s", stream_id, error)

    def _to_workers(self, stream_id: int, commands: list[Command]) -> None:
        """Overlay commands for the stream's workers, running or waiting their turn (a worker
        created later gets them from `overlays.commands`, see `StreamSource.new_worker`)."""
        for source in self.sources.feeding(stream_id):
            if source.worker is not None:
                source.worker.send(*commands)

    async def stream_changed(self, stream_id: int) -> None:
        """After an API change: a deleted or deactivated stream loses its publishers, and so
        does one switched to pulling its source (a pulled stream refuses pushes, see
        `_check`; its pull worker starts once the pushed one has finished). Every source
        of the stream follows its html_overlay (`StreamSource.set_html_overlay`) and its
        overlays follow the rows."""
        async with self.db_sessions() as db:
            stream = await StreamRepository(db).get(stream_id)
        self.gate.stream_changed(stream_id, Credentials.of(stream) if stream is not None else None)
        self._dvr_changed(stream_id, stream)
        self.recordings.stream_changed(stream_id, stream)
        if stream is not None:
            for source in self.sources.feeding(stream_id):
                source.set_html_overlay(stream.html_overlay)
        await self.overlays.sync(stream_id)
        push = self.sources.find(stream_id, PushSession)
        if push is None:
            return
        if stream is None or not stream.active:
            push.drop_all("stream deleted or deactivated")
        elif stream.pull and stream.uri:
            push.drop_all("stream now pulls its source")

    def _dvr_changed(self, stream_id: int, stream: Stream | None) -> None:
        """The stream's DVR window follows its row; a deleted stream's kept window goes."""
        if stream is None:
            succession = self.successions.get(stream_id)
            if succession is not None:
                succession.set_dvr(None)
                succession.discard()
            return
        self.succession(stream_id).set_dvr(float(stream.dvr_duration) if stream.dvr_enabled else None)

    def recording_worker(self, stream_id: int) -> WorkerProcess | None:
        """The worker packaging the stream now (a recording starts in it), if any here."""
        return next((s.worker for s in self.sources.feeding(stream_id) if s.worker is not None), None)

    def clear_dvr(self, stream_id: int) -> bool:
        """Restart the stream's DVR window at the live edge; False when no worker runs it here."""
        succession = self.successions.get(stream_id)
        return succession is not None and succession.clear_dvr()

    # -- workers and their output -------------------------------------------------------------
    def succession(self, stream_id: int) -> Succession:
        """The stream's workers on this node, whatever ingest runs them (see succession.py)."""
        succession = self.successions.get(stream_id)
        if succession is None:
            succession = self.successions[stream_id] = Succession(
                stream_id,
                self.output_dir(stream_id),
                save=lambda point: self.status.set(stream_id, resume_point=point),
                meter=self.meters.of(stream_id),
            )
        return succession

    def worker_config(
        self, stream_id: int, mpegts_endlist: bool, renditions: list[Rendition], **source: Any
    ) -> WorkerConfig:
        """The stream's WorkerConfig: packaging as settings say, and `source` (a pull's
        `pull_urls`..., a WHIP session's `whip_offer`...; nothing for a pushed stream). Call it
        in the worker's turn: it resumes where the stream's last worker stopped."""
        succession = self.succession(stream_id)
        return WorkerConfig(
            stream_id=stream_id,
            out_dir=str(self.output_dir(stream_id)),
            part_target=self.settings.part_target,
            segment_target=self.settings.segment_target,
            window_segments=self.settings.live_window_segments,
            dvr_seconds=succession.dvr_seconds,
            mpegts_endlist=mpegts_endlist,
            renditions=renditions,
            x264_preset=self.settings.x264_preset,
            hardware_encoder=self.settings.hardware_encoder,
            degrade_after=self.settings.transcode_degrade_after,
            resume=succession.resume.point(carry=succession.carries),
            utc_timing_url=utc_timing_url(self.settings),
            screenshot_file=str(screenshot_file(self.settings.screenshot_dir, stream_id)),
            screenshot_interval=self.settings.screenshot_interval,
            **source,
        )

    def output_dir(self, stream_id: int) -> Path:
        return self.settings.live_dir / str(stream_id)

    def lookup(self, stream_id: int) -> LiveStream | None:
        succession = self.successions.get(stream_id)
        return succession.live if succession else None

    async def close(self) -> None:
        pushed = list(self.sources.every(PushSession))
        workers = [s.worker for s in pushed if s.worker]
        for push in pushed:
            push.close_all("node shutting down")
        await asyncio.gather(*(w.wait() for w in workers), return_exceptions=True)
        await self.recordings.close()
        await self.restreams.close()
        await self.overlays.close()
        await self.status.close()
        self.meters.close()
        if self.session_flush is not None:
            await self.session_flush.close()


def _empty_directory(directory: Path) -> None:
    if directory.is_dir():
        for entry in directory.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
