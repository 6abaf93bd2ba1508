"""A pushed stream's source on this node: its publishers (main and backup slot), its worker, failover.

A `PushSession` is the `StreamSource` (server/media/source.py) of a stream that RTMP/RTMPS or
SRT publishers push to; the node relays their bytes to the worker. The stream keeps ONE worker
(one output) whatever its publishers do. The session decides whose bytes feed it: main while
main sends; the backup once main has left or been silent for `failover_timeout`; main again as
soon as it sends again. A switch waits for the new publisher's next keyframe (the old one keeps
feeding until then), then starts a new worker input (the contract's `StartInput` command,
`transcode/contract.py`): the packagers mark a discontinuity and media sequence numbers keep
rising, so players keep playing.

A worker that dies is replaced at the active publisher's next keyframe (up to
`worker_restart_limit`); with no publisher sending for `publish_idle_timeout` the worker is
stopped cleanly and started again when data returns. Either way, and after the encoder
reconnects (a new session), the next worker starts once the one before has exited and
continues its outputs (`server/media/succession.py`). A crashed worker's delivery state is
handed to its successor, so players blocked on a playlist are answered by the new worker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from ingest.media import MediaMessage
from ingest.publish import PublishRejected, PublishRequest
from ingest.rtmp.rests import grid_delay
from server.db.models import Stream
from server.media.flv_feed import FlvFeed
from server.media.source import StreamSource
from server.media.ts_feed import TsFeed
from server.media.worker_process import WorkerProcess
from transcode.contract import InputData, Rendition, StartInput, encode_command

if TYPE_CHECKING:
    from server.media.supervisor import Supervisor

log = logging.getLogger("headwater.supervisor")

MAIN = "main"
BACKUP = "backup"
# About this many seconds between failover / idle checks: the multiple of the RTMP rest tick
# nearest it, so the checks fall on the ticks' grid and cost no wake-up of their own.
WATCH_INTERVAL = 1.0


class Publisher:
    """One admitted connection in one slot of a stream (a PublishSink for the ingest servers)."""

    def __init__(self, session: PushSession, slot: str, request: PublishRequest) -> None:
        self.session = session
        self.slot = slot
        self.protocol = request.protocol  # rtmp, rtmps or srt
        self.source_type = "rtmp" if request.protocol in ("rtmp", "rtmps") else request.protocol
        self.peer = request.peer
        self.feed: FlvFeed | TsFeed = TsFeed() if request.protocol == "srt" else FlvFeed()
        self.joined = time.monotonic()
        self.last_data: float | None = None  # monotonic time of the last write
        self.closed = False
        self.dropped: str | None = None

    # -- PublishSink ---------------------------------------------------------------------
    def write(self, message: MediaMessage | bytes) -> None:
        if self.dropped is not None:
            raise PublishRejected(self.dropped)  # the ingest server closes the connection
        if self.closed:
            return
        self.last_data = time.monotonic()
        self.session.on_data(self, message)

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        log.info("stream %s: %s publisher %s left (%s)", self.session.stream_id, self.slot, self.peer, reason)
        self.session.left(self)

    def drop(self, reason: str) -> None:
        """Disconnect the publisher at its next write (the ingest server owns the socket)."""
        log.info("stream %s: dropping %s publisher %s (%s)", self.session.stream_id, self.slot, self.peer, reason)
        self.dropped = reason

    def sending(self, now: float, within: float) -> bool:
        return self.last_data is not None and now - self.last_data <= within

    def expected(self, now: float, within: float) -> bool:
        """Sending, or connected so recently that its first bytes may still be on the way."""
        return self.sending(now, within) or (self.last_data is None and now - self.joined <= within)


class PushSession(StreamSource):
    kind = "push"

    def __init__(
        self, supervisor: Supervisor, stream: Stream, renditions: list[Rendition] | None = None, standby: bool = False
    ) -> None:
        super().__init__(
            supervisor, stream.id, stream.hls_mpegts_endlist_tag, renditions or [], html_overlay=stream.html_overlay
        )
        self.standby = standby  # another node runs the stream: publishers observed, no worker
        self.settings = supervisor.settings
        self.slots: dict[str, Publisher] = {}
        self.active: Publisher | None = None  # whose bytes the worker gets
        self.target: Publisher | None = None  # switching to it at its next keyframe
        self.crashed: WorkerProcess | None = None  # its delivery state waits for a successor
        self.restarts = 0
        self.gave_up = False
        self.closed = False
        self.watchdog = asyncio.create_task(self._watch())

    @property
    def source_type(self) -> str | None:
        current = self.active or self.target
        return current.source_type if current else None

    # -- publishers ----------------------------------------------------------------------
    def join(self, slot: str, request: PublishRequest) -> Publisher:
        publisher = Publisher(self, slot, request)
        self.slots[slot] = publisher
        self.supervisor.occupancy_changed(self.stream_id)
        if slot == BACKUP:
            self.supervisor.status.backup_joined(self.stream_id)
        return publisher

    def take_over(self) -> bool:
        """This node runs the stream now (its lease, server/cluster/): a session on standby
        feeds a worker from its publishers, going on from the other node's output. Whether
        it was on standby."""
        if not self.standby:
            return False
        self.standby = False
        log.info("stream %s: this node runs it now", self.stream_id)
        self._choose()
        return True

    def left(self, publisher: Publisher) -> None:
        if self.slots.get(publisher.slot) is publisher:
            del self.slots[publisher.slot]
            self.supervisor.slot_left(self.stream_id, publisher.slot)
            self.supervisor.occupancy_changed(self.stream_id)
        if publisher.slot == BACKUP:
            self.supervisor.status.backup_left(self.stream_id)
        if self.target is publisher:
            self.target = None
        if self.active is publisher:
            self.active = None  # the worker waits for whoever comes next
        if not self.slots:
            self._end()
        else:
            self._choose()

    def drop_all(self, reason: str) -> None:
        for publisher in list(self.slots.values()):
            publisher.drop(reason)

    def give_up(self, reason: str) -> None:
        self.drop_all(reason)

    def close_all(self, reason: str) -> None:
        for publisher in list(self.slots.values()):
            publisher.close(reason)

    def on_data(self, publisher: Publisher, message: MediaMessage | bytes) -> None:
        if self.gave_up:
            return
        if self.standby:
            publisher.feed.observe(message)
            return
        if publisher is self.active and self.worker is None and self.target is None:
            self._arm(publisher)  # the worker died or was stopped idle: restart at a keyframe
        elif publisher is not self.active and publisher is not self.target:
            self._choose()  # e.g. main sends again: switch back to it
        if publisher is self.target:
            data = publisher.feed.bytes_for(message)
            if data:
                self._switch(publisher, data)
        elif publisher is self.active:
            data = publisher.feed.bytes_for(message)
            if data and self.worker is not None and not self.worker.send(InputData(data)):
                self._worker_lost()
        else:
            publisher.feed.observe(message)

    # -- choosing the source --------------------------------------------------------------
    def _choose(self) -> None:
        """Main if it sends, else the backup if it sends; nobody sending: no change.

        A main publisher that has just connected counts as sending for `failover_timeout`,
        so two encoders started together do not begin on the backup for a moment."""
        if self.standby:
            return
        now = time.monotonic()
        within = self.settings.failover_timeout
        main, backup = self.slots.get(MAIN), self.slots.get(BACKUP)
        if main is not None and main.expected(now, within):
            wanted = main
        elif backup is not None and backup.sending(now, within):
            wanted = backup
        else:
            return
        if wanted is self.active and self.worker is not None:
            self.target = None  # e.g. main came back before the backup's keyframe
        elif wanted is not self.target and wanted is not self.active:
            self._arm(wanted)

    def _arm(self, publisher: Publisher) -> None:
        publisher.feed.restart()
        self.target = publisher

    def _switch(self, publisher: Publisher, first: bytes) -> None:
        """`publisher` reached a keyframe: its bytes feed the worker from here on. A worker to
        start waits for the stream's next worker start (`worker_starts`) and a later keyframe."""
        if self.worker is None and not self.supervisor.worker_starts.take(self.stream_id):
            publisher.feed.restart()  # still the target: its next keyframe asks again
            return
        previous, self.active, self.target = self.active, publisher, None
        records = encode_command(StartInput(publisher.feed.format)) + encode_command(InputData(first))
        if self.worker is None:
            self._start_worker(records)
            return
        if previous is not publisher:
            log.info(
                "stream %s: output now from the %s publisher (%s)",
                self.stream_id,
                publisher.slot,
                publisher.source_type,
            )
        if not self.worker.feed(records):
            self._worker_lost()

    # -- worker lifecycle ------------------------------------------------------------------
    def replace_worker(self) -> bool:
        """html_overlay switched: the worker is killed and the next one starts at the active
        publisher's next keyframe, as after a crash (players go on after a discontinuity; the
        publisher stays connected). With no active publisher the next worker takes the setting."""
        if self.active is None:
            return False
        self._worker_lost()
        return True

    def _start_worker(self, first_bytes: bytes) -> None:
        worker = self.new_worker()
        worker.feed(first_bytes)  # queued now, so it precedes whatever arrives until the spawn
        self.worker_task = asyncio.create_task(self.run_worker(worker))  # held: the loop keeps weak references

    def turn_began(self, worker: WorkerProcess) -> None:
        self.crashed = None  # the crashed worker's delivery state is this one's now

    def worker_exited(self, worker: WorkerProcess, code: int) -> None:
        super().worker_exited(worker, code)
        succession = self.succession
        if self.was_replaced(worker) and not self.closed:
            self.crashed = worker  # its state waits for the next worker, as after a crash
            return
        if self.closed or code == 0:
            succession.end(worker)
            self.supervisor.status.went_offline(self.stream_id)
            return
        self.restarts += 1
        if self.restarts > self.settings.worker_restart_limit:
            log.error(
                "stream %s: worker failed %d times; giving up until the publishers reconnect",
                self.stream_id,
                self.restarts,
            )
            succession.end(worker)
            self.supervisor.status.went_offline(self.stream_id)
            self.gave_up = True
            return
        # the state stays up, not ended: its last playlists are served and blocked requests
        # wait until the next worker's first parts (or their timeout)
        self.crashed = worker
        log.warning("stream %s: worker exited with %s; restarting at the next keyframe", self.stream_id, code)

    def _worker_lost(self) -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.kill()

    def _end(self) -> None:
        self.closed = True
        self.watchdog.cancel()
        if self.worker is not None:
            self.worker.finish()
        elif self.crashed is not None:  # its state will have no successor from this session
            self.succession.end(self.crashed)
        self.supervisor.session_ended(self)

    async def _watch(self) -> None:
        """Failover on silence, and an idle stop when nobody has sent for a while."""
        idle = self.settings.publish_idle_timeout
        interval = min(self.settings.on_rest_grid(WATCH_INTERVAL), idle / 4)
        loop = asyncio.get_running_loop()
        while True:
            # on the loop clock's grid, so that every stream's watchdog runs in one wake-up
            await asyncio.sleep(grid_delay(loop.time(), interval))
            if self.standby:
                await self.supervisor.take_over(self)  # the owner let go, or died
            self._choose()
            now = time.monotonic()
            if self.worker is not None and not any(p.sending(now, idle) for p in self.slots.values()):
                log.warning("stream %s: no data for %.0fs; stopping its worker", self.stream_id, idle)
                worker, self.worker = self.worker, None
                self.target = None
                worker.finish()  # its state ends with it; data that returns gets a new worker
