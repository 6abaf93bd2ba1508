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
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ingest.publish import PublishRejected, PublishRequest
from packager.resume import ResumePoint
from server.cluster.cluster import Cluster, OwnedElsewhere, slot_key, stream_key
from server.db.models import Stream
from server.db.outage import is_unavailable
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
from server.media.worker_starts import WorkerStarts
from server.metrics.session_flush import SessionFlush
from server.metrics.stream_meter import StreamMeters
from server.metrics.viewer_sessions import TICK
from server.overlays.live import LiveOverlays
from server.settings import Settings
from server.storage import RecordingStorage
from server.urls import stream_number, utc_timing_url
from server.webhooks.outbox import Outbox
from transcode.contract import Command, Rendition, WorkerConfig

log = logging.getLogger("headwater.supervisor")


class Supervisor:
    def __init__(
        self,
        settings: Settings,
        db_sessions: async_sessionmaker[AsyncSession],
        storage: RecordingStorage | None = None,
        cluster: Cluster | None = None,
        outbox: Outbox | None = None,
        failed_attempts: FailedAttempts | None = None,
    ) -> None:
        """`outbox`: the node's webhooks (`server/webhooks/`), written with the status they report."""
        self.settings = settings
        self.failed_attempts = failed_attempts or FailedAttempts(
            settings.failed_attempts_burst, settings.failed_attempts_refill
        )
        self.worker_starts = WorkerStarts(settings.worker_start_burst, settings.worker_start_refill)
        self.db_sessions = db_sessions
        self.cluster = cluster or Cluster(settings, db_sessions)  # this node among those sharing the DB
        self.admitting: dict[int, int] = {}  # stream → sources being admitted (they need its lease)
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
        elsewhere = await self.live_elsewhere()
        await self.status.reset_all(keep=elsewhere)
        await self._load_credentials()
        await self.recordings.start(keep=elsewhere)
        await self.restreams.start(keep=elsewhere)
        await self._restore_numbering()
        await self._load_dvr_windows()
        await asyncio.to_thread(_empty_directory, self.settings.live_dir)
        self.status.start()
        self.meters.start()
        if self.session_flush is not None:
            self.session_flush.start()

    async def live_elsewhere(self) -> set[int]:
        """The streams another node runs now (their live status and recordings are theirs)."""
        prefix = stream_key(0).removesuffix("0")
        held = await self.cluster.held_elsewhere()
        numbers = (stream_number(key.removeprefix(prefix)) for key in held if key.startswith(prefix))
        return {number for number in numbers if number is not None}  # not a slot's lease (`stream/7/main`)

    async def _restore_numbering(self) -> None:
        """Every stream goes on from the resume point stored by the node's last run."""
        async with self.db_sessions() as db:
            rows = await StreamRepository(db).resume_points()
        margin = restore_margin(self.settings.segment_target)
        for stream_id, stored in rows:
            point = _stored_point(stream_id, stored)
            if point is not None:
                self.succession(stream_id).resume.restore(point, margin)

    async def _catch_up(self, stream_id: int) -> None:
        """This node takes over a stream another node sharing the database ran (that node
        died, or its publisher came here): its output goes on from the point that node
        stored, when that is ahead of what this node knows, plus the restart margin (the
        other node may have announced that much more since it stored the point)."""
        async with self.db_sessions() as db:
            point = _stored_point(stream_id, await StreamRepository(db).resume_point(stream_id))
        tracker = self.succession(stream_id).resume
        if point is not None and point.msn > tracker.named_msn + 1:
            tracker.restore(point, restore_margin(self.settings.segment_target))
            log.info("stream %s: going on from msn %d, where another node's output got to", stream_id, point.msn)

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
            stream_id = stream_number(request.name)
            if not rejected.busy and stream_id is not None and self._loop is not None:
                self._loop.call_soon_threadsafe(self._reread, stream_id)
            raise

    async def authorize(self, request: PublishRequest) -> Publisher:
        """Admit the publisher into its slot (the slot's lease, among the nodes). The node
        that runs the stream's output (its lease) feeds the worker; on another node the
        publisher waits on standby (`PushSession.standby`) and that node takes the stream
        over once the owner lets go or dies: main and backup may land on different nodes."""
        self._refuse_throttled(request)
        try:
            stream, slot = await self._check(request)
        except PublishRejected as rejected:
            self._count_failure(request, rejected)
            raise
        self.admitting[stream.id] = self.admitting.get(stream.id, 0) + 1
        try:
            key = slot_key(stream.id, slot)
            holder = await self.cluster.claim(key, lambda: self._slot_needed(stream.id, slot), self._slot_lost)
            if holder != self.cluster.node_id:
                raise self._refusal(stream.id, slot, holder)
            try:
                async with self.owning(stream.id):
                    push = await self._push_session(stream, standby=False)
                    if push.take_over():  # one on standby here runs the stream now
                        self._sources_changed(stream.id)
            except OwnedElsewhere as owned:
                push = await self._push_session(stream, standby=True)
                log.info("stream %s: node %s runs it; %s publisher on standby here", stream.id, owned.holder, slot)
        finally:
            self._admitted(stream.id)
            if not self._slot_needed(stream.id, slot):
                self.spawn(self.cluster.let_go(slot_key(stream.id, slot)))
        publisher = push.join(slot, request)
        log.info("stream %s: %s publisher %s admitted (%s)", stream.id, slot, request.peer, request.protocol)
        return publisher

    async def _push_session(self, stream: Stream, standby: bool) -> PushSession:
        """The stream's PushSession on this node, created if need be."""
        push = self.sources.find(stream.id, PushSession)
        if push is None:
            async with self.db_sessions() as db:
                renditions = await ladder_of(db, stream)
            push = self.sources.find(stream.id, PushSession)  # another publisher of this stream won the race
            if push is None:
                push = PushSession(self, stream, renditions, standby=standby)
                self.sources.add(push)
        return push

    async def take_over(self, push: PushSession) -> None:
        """A session on standby asks (push.py): it runs the stream if its lease is free now."""
        try:
            async with self.owning(push.stream_id):
                if push.take_over():
                    self._sources_changed(push.stream_id)
        except OwnedElsewhere:
            pass

    def _slot_needed(self, stream_id: int, slot: str) -> bool:
        push = self.sources.find(stream_id, PushSession)
        return stream_id in self.admitting or (push is not None and slot in push.slots)

    def _slot_lost(self, key: str) -> None:
        """Another node took a slot this node's publisher holds (this one stalled): drop it."""
        stream_id, slot = key.removeprefix(stream_key(0).removesuffix("0")).split("/")
        push = self.sources.find(int(stream_id), PushSession)
        if push is not None and slot in push.slots:
            push.slots[slot].drop("another node has the slot now")

    def slot_left(self, stream_id: int, slot: str) -> None:
        """The slot's publisher left: the slot's lease goes, so it may come back on any node."""
        if stream_id not in self.admitting:
            self.spawn(self.cluster.let_go(slot_key(stream_id, slot)))

    @asynccontextmanager
    async def owning(self, stream_id: int) -> AsyncIterator[None]:
        """Admit a source of the stream under its lease: this node takes (or keeps) it, or
        `OwnedElsewhere` names the node that runs the stream. Register the source in `sources`
        before leaving the block; the lease is let go once no source of the stream is left."""
        self.admitting[stream_id] = self.admitting.get(stream_id, 0) + 1
        try:
            key = stream_key(stream_id)
            taken = key not in self.cluster.held
            holder = await self.cluster.claim(key, lambda: self._lease_needed(stream_id), self._lease_lost)
            if holder != self.cluster.node_id:
                raise OwnedElsewhere(key, holder)
            if taken and self.cluster.shared:
                await self._catch_up(stream_id)
            yield
        finally:
            self._admitted(stream_id)
            if not self._lease_needed(stream_id):
                self.spawn(self.cluster.let_go(stream_key(stream_id)))

    def _admitted(self, stream_id: int) -> None:
        self.admitting[stream_id] -= 1
        if not self.admitting[stream_id]:
            del self.admitting[stream_id]

    def _lease_needed(self, stream_id: int) -> bool:
        running = [s for s in self.sources.feeding(stream_id) if not s.standby]
        return bool(running) or stream_id in self.admitting

    def _lease_lost(self, key: str) -> None:
        """Another node took the stream (this one stalled past the lease): stop feeding it here."""
        stream_id = int(key.removeprefix(stream_key(0).removesuffix("0")))
        for source in self.sources.feeding(stream_id):
            source.give_up("another node runs the stream now")

    def _refusal(self, stream_id: int, slot: str, holder: str | None) -> PublishRejected:
        log.info("stream %s: %s publisher refused: node %s has that slot", stream_id, slot, holder)
        return PublishRejected(f"stream {stream_id} already has a {slot} publisher on node {holder}", busy=True)

    async def _check(self, request: PublishRequest) -> tuple[Stream, str]:
        """`publish_gate.check` on the stream's row read now (the gate keeps it too)."""
        _, stream_id = requested(request)
        async with self.db_sessions() as db:
            stream = await StreamRepository(db).get(stream_id)
        self.gate.stream_changed(stream_id, Credentials.of(stream) if stream is not None else None)
        slot = check(request, Credentials.of(stream) if stream is not None else None, self._occupancy(stream_id))
        assert stream is not None
        holder = await self.cluster.holder(slot_key(stream_id, slot))
        if holder not in (None, self.cluster.node_id):
            raise self._refusal(stream_id, slot, holder)
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
        except Exception as error:
            if not is_unavailable(error):  # away: the gate keeps what it knew
                log.exception("stream %s: reading its credentials failed", stream_id)
        finally:
            self.rereading.discard(stream_id)

    def session_ended(self, push: PushSession) -> None:
        self.sources.remove(push)

    # -- overlays -------------------------------------------------------------------------------
    def _fed(self, stream_id: int) -> bool:
        """Whether a source feeds the stream's output here (one on standby does not)."""
        return any(not source.standby for source in self.sources.feeding(stream_id))

    def _sources_changed(self, stream_id: int) -> None:
        """A source came or went: a stream that goes live renders its overlays, one that ends
        here drops them."""
        self.occupancy_changed(stream_id)
        if self._fed(stream_id):
            self.spawn(self._sync_overlays(stream_id))
        else:
            self.overlays.stream_ended(stream_id)
            if stream_id not in self.admitting:
                self.spawn(self.cluster.let_go(stream_key(stream_id)))

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` on its own; its failure is logged here (nobody awaits it)."""
        task = asyncio.create_task(_logging_failure(work))
        self.syncs.add(task)  # held: the loop keeps weak references
        task.add_done_callback(self.syncs.discard)

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


async def _logging_failure(work: Coroutine[Any, Any, None]) -> None:
    """A database away is not worth a traceback (what the work wrote, e.g. a lease released,
    expires or is written again anyway); anything else is."""
    try:
        await work
    except Exception as error:
        if not is_unavailable(error):
            log.exception("background work of the supervisor failed")


def _stored_point(stream_id: int, stored: Any) -> ResumePoint | None:
    if stored is None:
        return None
    try:
        point = ResumePoint.from_json(stored)
    except (KeyError, TypeError, ValueError):
        point = None
    if point is None:
        log.warning("stream %s: stored resume point unreadable; its numbering starts over", stream_id)
    return point


def _empty_directory(directory: Path) -> None:
    if directory.is_dir():
        for entry in directory.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
