"""Restreams on the node: which targets each live stream's worker forwards to, and their `live` flag.

The worker does the forwarding (`transcode/restream/`: `StartRestream`, `StopRestream`); the
node decides what it forwards, from the `restreams` rows:
- a new worker of a stream gets a `StartRestream` for each active restream of the stream as
  one of its first commands (`commands`), so restreams start when the stream goes live;
- an API change (`changed`, after every create, update and delete, and after a stream's own
  change) is applied to the stream's running workers at once: a restream deactivated or
  deleted is stopped, a new one started, one whose `uri` or audio changed restarted;
- a worker that exits takes its restreams off the air (`worker_exited`).
Each start gets a session number, which the worker's `restream_live` / `restream_stopped`
events carry: an event of a start the node has since replaced is ignored.

`set_live` is the one place where a restream's `live` changes (what the API answers; the place
for a "restream" webhook). Writes go through one task, in order, so the worker's event path
never waits on SQL.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.models import Restream
from server.db.outage import OutageNotice, is_unavailable
from server.db.restreams import RestreamRepository
from transcode.contract import Command, RestreamLive, RestreamStopped, StartRestream, StopRestream

if TYPE_CHECKING:
    from server.media.worker_process import WorkerProcess
    from server.webhooks.outbox import Outbox

log = logging.getLogger("headwater.restreams")


OUTAGE_RETRY = 2.0  # seconds between writes of the live flags while the database is away


@dataclass(frozen=True)
class Target:
    """What a worker is told about a restream: a change of any of it restarts the restream."""

    uri: str
    no_audio: bool
    no_audio_mode: str

    @classmethod
    def of(cls, restream: Restream) -> Target:
        return cls(restream.uri, restream.no_audio, restream.no_audio_mode)


@dataclass
class WorkerRestreams:
    """The restreams one worker of a stream runs: restream id → (target, session)."""

    stream_id: int
    running: dict[int, tuple[Target, int]] = field(default_factory=dict)


class Restreams:
    def __init__(self, db_sessions: async_sessionmaker[AsyncSession], outbox: Outbox | None = None) -> None:
        """`outbox`: the "restream" webhooks, written with the `live` flags they report."""
        self.db_sessions = db_sessions
        self.outbox = outbox
        self.wanted: dict[int, dict[int, Target]] = {}  # stream → its active restreams
        self.workers: dict[WorkerProcess, WorkerRestreams] = {}
        self.sessions = itertools.count(1)
        self.current: dict[int, int] = {}  # restream → the session a worker runs it in
        self.live: dict[int, bool] = {}
        self.pending: dict[int, bool] = {}  # `live` values not written yet
        self.wakeup = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.outage = OutageNotice("restreams' live flags kept for later")

    async def start(self, keep: Collection[int] = ()) -> None:
        """Nothing forwards on a node that starts (but the streams in `keep`, which another node
        runs); every stream's restreams are loaded."""
        async with self.db_sessions() as db:
            repository = RestreamRepository(db)
            await repository.reset_live(keep, self.outbox)
            rows = await repository.every()
        for restream in rows:
            if restream.active:
                self.wanted.setdefault(restream.stream_id, {})[restream.id] = Target.of(restream)
        self.task = asyncio.create_task(self._write())

    # -- workers --------------------------------------------------------------------------------
    def commands(self, stream_id: int, worker: WorkerProcess) -> list[Command]:
        """A new worker's first commands: every active restream of its stream."""
        state = self.workers[worker] = WorkerRestreams(stream_id)
        return [self._start(state, restream_id, target) for restream_id, target in self._wanted(stream_id)]

    def worker_exited(self, worker: WorkerProcess) -> None:
        state = self.workers.pop(worker, None)
        if state is None:
            return
        for restream_id, (_, session) in state.running.items():
            if self.current.get(restream_id) == session:
                del self.current[restream_id]
            # the stream's next worker, told already, starts only after this one's exit
            self.set_live(restream_id, False)

    async def changed(self, stream_id: int) -> None:
        """The stream's restreams (or the stream) changed in the API: its workers follow."""
        async with self.db_sessions() as db:
            rows = await RestreamRepository(db).of_stream(stream_id)
        self.wanted[stream_id] = {r.id: Target.of(r) for r in rows if r.active}
        if not self.wanted[stream_id]:
            del self.wanted[stream_id]
        for worker, state in list(self.workers.items()):
            if state.stream_id == stream_id:
                self._follow(worker, state)

    def _follow(self, worker: WorkerProcess, state: WorkerRestreams) -> None:
        wanted = dict(self._wanted(state.stream_id))
        for restream_id, (target, session) in list(state.running.items()):
            if wanted.get(restream_id) != target:
                del state.running[restream_id]
                worker.send(StopRestream(restream_id=restream_id))
                if self.current.get(restream_id) == session:
                    del self.current[restream_id]
                self.set_live(restream_id, False)
        for restream_id, target in wanted.items():
            if restream_id not in state.running:
                worker.send(self._start(state, restream_id, target))

    def _wanted(self, stream_id: int) -> list[tuple[int, Target]]:
        return list(self.wanted.get(stream_id, {}).items())

    def _start(self, state: WorkerRestreams, restream_id: int, target: Target) -> StartRestream:
        session = next(self.sessions)
        state.running[restream_id] = (target, session)
        self.current[restream_id] = session
        return StartRestream(
            restream_id=restream_id,
            session=session,
            uri=target.uri,
            no_audio=target.no_audio,
            no_audio_mode=target.no_audio_mode,
        )

    # -- the worker's events --------------------------------------------------------------------
    def reported(self, event: RestreamLive | RestreamStopped) -> None:
        if self.current.get(event.restream_id) != event.session:
            return  # a start the node has replaced or stopped since
        if isinstance(event, RestreamStopped):
            log.info("restream %s: off the air (%s)", event.restream_id, event.message)
        self.set_live(event.restream_id, isinstance(event, RestreamLive))

    def set_live(self, restream_id: int, live: bool) -> None:
        """The one place where a restream's `live` changes (written to its row in order)."""
        if self.live.get(restream_id, False) == live:
            return
        self.live[restream_id] = live
        self.pending[restream_id] = live
        self.wakeup.set()

    async def _write(self) -> None:
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            batch, self.pending = self.pending, {}
            try:
                async with self.db_sessions() as db:
                    await RestreamRepository(db).set_live(batch, self.outbox)
            except Exception as error:
                if not is_unavailable(error):  # a bug: the next change writes again; the node goes on
                    log.exception("restreams: writing live flags failed")
                    continue
                self.outage.failed(error)  # the database away: the flags wait for it
                self.pending = {**batch, **self.pending}
                await asyncio.sleep(OUTAGE_RETRY)
                self.wakeup.set()

    async def close(self) -> None:
        if self.pending:
            async with self.db_sessions() as db:
                await RestreamRepository(db).set_live(self.pending, self.outbox)
            self.pending = {}
        if self.task is not None:
            self.task.cancel()
