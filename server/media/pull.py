"""PULL streams on the node: one worker per active pull stream, kept in step with the DB.

A `PullSession` is the `StreamSource` (server/media/source.py) of a pulled stream. The worker
opens the sources itself (transcode/pull_worker.py, ingest/pull/); the node only decides which
streams should have one (`pull=true`, `active=true`, a `uri`) and restarts a worker that
crashed; its events go through `WorkerEvents` like any worker's (status, delivery, and a
stream whose worker gave up is deactivated). `sync(stream_id)` is called at node start and after every API change.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from server.cluster.cluster import OwnedElsewhere, stream_key
from server.db.models import Stream
from server.db.orphan_pulls import claim_orphan_pulls
from server.db.outage import is_unavailable
from server.db.streams import StreamRepository
from server.media.ladders import ladder_of
from server.media.source import StreamSource
from server.media.worker_process import WorkerProcess
from transcode.contract import Rendition

log = logging.getLogger("headwater.pull")

RESTART_DELAY = 2.0  # seconds before a crashed pull worker is started again
ADOPT_AT_ONCE = 8  # orphaned pull streams a node claims per look (the others take the rest)


class PullSession(StreamSource):
    """One pull stream's worker, from start until the node stops it or it gives up."""

    kind = "pull"

    def __init__(self, manager: PullManager, stream: Stream, renditions: list[Rendition]) -> None:
        super().__init__(
            manager.supervisor, stream.id, stream.hls_mpegts_endlist_tag, renditions, html_overlay=stream.html_overlay
        )
        self.manager = manager
        self.urls = stream.uri.split()
        self.stopping = False
        self.done = False  # the last worker's exit ends the session
        self.restarts = 0
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self.stopping = True
        if self.worker is not None:
            self.worker.finish()
        if self.task is not None:
            await asyncio.gather(self.task, return_exceptions=True)

    def worker_source(self) -> dict[str, Any]:
        return self.manager.pull_source(self.urls)

    def give_up(self, reason: str) -> None:
        log.info("stream %s: stopping its pull worker (%s)", self.stream_id, reason)
        self.manager.supervisor.spawn(self.stop())

    async def _run(self) -> None:
        """Workers one after another (server/media/succession.py): each continues the
        outputs of the one before; a crashed one's delivery state goes to the next."""
        worker = None
        try:
            while not self.stopping:
                worker = self.new_worker()
                code = await self.run_worker(worker)
                if self.done:
                    break
                if self.was_replaced(worker):
                    continue  # html_overlay switched: the next worker at once
                log.warning("stream %s: pull worker exited with %s; restarting", self.stream_id, code)
                await asyncio.sleep(RESTART_DELAY)
        finally:
            if worker is not None:
                self.succession.end(worker)  # stopped while waiting to restart (nothing if a successor took over)
            self.worker = None
            self.manager.session_ended(self)

    def replace_worker(self) -> bool:
        """html_overlay switched: the worker is killed and the next one opens the sources at once
        and takes its state over, as after a crash (the stream stays live)."""
        if self.worker is None:
            return False
        self.worker.kill()
        return True

    def worker_exited(self, worker: WorkerProcess, code: int) -> None:
        super().worker_exited(worker, code)
        if worker is self.replaced and not self.stopping:
            return  # its state waits for the next worker (`_run`)
        if self.events is not None:
            self.events.went_offline()
        if self.stopping or code == 0 or self._gives_up():
            self.done = True
            self.succession.end(worker)

    def _gives_up(self) -> bool:
        self.restarts += 1
        if self.restarts <= self.manager.settings.worker_restart_limit:
            return False
        log.error("stream %s: pull worker failed %d times; stopping it", self.stream_id, self.restarts)
        self.manager.supervisor.status.set(self.stream_id, source_error="pull worker keeps failing")
        return True


class PullManager:
    def __init__(self, supervisor) -> None:
        self.supervisor = supervisor
        self.settings = supervisor.settings
        self.sources = supervisor.sources
        self.locks: dict[int, asyncio.Lock] = {}
        self.adopting: asyncio.Task[None] | None = None

    def pull_source(self, urls: list[str]) -> dict[str, Any]:
        """The pull fields of the worker's `WorkerConfig`."""
        settings = self.settings
        return dict(
            pull_urls=tuple(urls),
            pull_open_timeout=settings.pull_open_timeout,
            pull_read_timeout=settings.pull_read_timeout,
            pull_backoff_max=settings.pull_backoff_max,
            pull_give_up_after=settings.pull_give_up_after,
        )

    async def start(self) -> None:
        """At node start: every active pull stream gets its worker (unless another node
        sharing the database runs it: then this node adopts it once that node is gone)."""
        async with self.supervisor.db_sessions() as db:
            ids = await StreamRepository(db).active_pull_ids()
        for stream_id in ids:
            await self.sync(stream_id)
        if self.supervisor.cluster.shared:
            self.adopting = asyncio.create_task(self._adopt_orphans())

    async def _adopt_orphans(self) -> None:
        """Every lease renewal period: pull streams no node runs (their node died, or none
        was up) start here (server/db/orphan_pulls.py)."""
        cluster = self.supervisor.cluster
        prefix = stream_key(0).removesuffix("0")
        while True:
            await asyncio.sleep(cluster.interval)
            try:
                ids = await claim_orphan_pulls(
                    self.supervisor.db_sessions, cluster.node_id, self.settings.lease_ttl, prefix, ADOPT_AT_ONCE
                )
                for stream_id in ids:
                    log.info("stream %s: no node pulls it; adopting it", stream_id)
                    await self.sync(stream_id)
                    if self.sources.find(stream_id, PullSession) is None:  # its row changed meanwhile
                        await cluster.let_go(stream_key(stream_id))
            except Exception as error:
                if not is_unavailable(error):
                    log.exception("adopting pull streams failed")
                # the database away: the heartbeat's notice says so; adopting waits for it

    async def sync(self, stream_id: int) -> None:
        """Start, stop or restart the stream's pull worker to match its row."""
        lock = self.locks.setdefault(stream_id, asyncio.Lock())
        async with lock:
            async with self.supervisor.db_sessions() as db:
                stream = await StreamRepository(db).get(stream_id)
                renditions = await ladder_of(db, stream) if stream is not None else []
            wanted = stream is not None and stream.pull and stream.active and bool(stream.uri)
            current = self.sources.find(stream_id, PullSession)
            if current is not None and (not wanted or current.urls != stream.uri.split()):
                await current.stop()
                current = None
            if wanted and current is None:
                await self._start(stream, renditions)

    async def _start(self, stream: Stream, renditions: list[Rendition]) -> None:
        """The stream's pull worker, unless another node sharing the database runs it."""
        try:
            async with self.supervisor.owning(stream.id):
                log.info("stream %s: starting its pull worker", stream.id)
                pull = PullSession(self, stream, renditions)
                self.sources.add(pull)
        except OwnedElsewhere as owned:
            log.info("stream %s: node %s pulls it", stream.id, owned.holder)
            return
        pull.start()

    def session_ended(self, pull: PullSession) -> None:
        self.sources.remove(pull)

    async def close(self) -> None:
        if self.adopting is not None:
            self.adopting.cancel()
        await asyncio.gather(*(s.stop() for s in list(self.sources.every(PullSession))), return_exceptions=True)
