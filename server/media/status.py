"""Writes the live status fields of streams (`live`, `transcoding_speed`, ...) to the DB.

Updates go through one queue and one task, in order, so the request path and the worker's
event path never wait on SQL, and a burst of stats collapses into one write per stream.

Stats arrive every second per stream, and one UPDATE + commit costs about 2 ms of the node's
CPU (SQLAlchemy + aiosqlite), a tenth of a passthrough stream's whole node cost. So a stats
event is written only when it says something new (size changed, speed or frame rate moved
by more than STATS_SPEED_STEP / STATS_FRAME_RATE_STEP) or STATS_EVERY seconds after the last
written one; the other fields are written when they happen.

With webhooks on (`server/webhooks/`), each write that moves a stream to another stage (live,
output ready, recording, stopped) carries its event in the same commit, and two stage changes
of one stream are never merged into one write (a short publish still reports live, then
stopped).

A database that is away (`server/db/outage.py`) loses no write: the batch goes back under
what came since (newer values win) and is tried again STATUS_RETRY_FIRST later, the wait
doubling up to STATUS_RETRY_MAX, with one warning when the writes start failing and one
line when they go through again. Any other error drops that batch, as a bug should not
block every later write.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.outage import OutageNotice, is_unavailable
from server.db.streams import OFFLINE, StreamRepository
from server.webhooks.outbox import Outbox
from server.webhooks.payloads import STAGE_FIELDS
from transcode.contract import SourceEvent, Stats

log = logging.getLogger("headwater.status")

STATS_EVERY = 5.0  # seconds
STATS_SPEED_STEP = 0.05  # media seconds per wall second
STATS_FRAME_RATE_STEP = 0.5  # frames per second
STATUS_RETRY_FIRST = 0.5  # seconds after a failed write while the database is away
STATUS_RETRY_MAX = 5.0
CLOSE_WAIT = 10.0  # seconds the node's shutdown waits for the last writes


def now() -> datetime:
    return datetime.now(UTC)


class StatusWriter:
    def __init__(
        self,
        db_sessions: async_sessionmaker[AsyncSession],
        clock: Callable[[], float] = time.monotonic,
        outbox: Outbox | None = None,
    ) -> None:
        self.db_sessions = db_sessions
        self.clock = clock
        self.outbox = outbox if outbox is not None and outbox.enabled else None
        self.stats_written: dict[int, tuple[float, dict]] = {}  # stream → (when, values)
        self.pending: dict[int, dict] = {}
        self.queued: list[dict[int, dict]] = []  # batches before `pending`, written first
        self.wakeup = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()
        self.task: asyncio.Task | None = None
        self.writes = 0  # batches written, and the seconds they took: /metrics' database latency
        self.write_seconds = 0.0
        self.outage = OutageNotice("stream status writes kept for later")

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    def set(self, stream_id: int, **values) -> None:
        if self._another_stage(stream_id, values):  # its own write, its own webhook
            self.queued.append(self.pending)
            self.pending = {}
        self.pending.setdefault(stream_id, {}).update(values)
        self.idle.clear()
        self.wakeup.set()

    def _another_stage(self, stream_id: int, values: dict) -> bool:
        """With webhooks on: do `values` change the stage of a stream whose pending write
        already does?"""
        waiting = self.pending.get(stream_id)
        if self.outbox is None or waiting is None:
            return False
        return not STAGE_FIELDS.isdisjoint(waiting) and not STAGE_FIELDS.isdisjoint(values)

    def went_live(self, stream_id: int, source_type: str, started: SourceEvent) -> None:
        self.stats_written.pop(stream_id, None)
        self.set(
            stream_id,
            live=True,
            stream_source_type=source_type,
            started_at_primary=now(),
            video_width=started.width,
            video_height=started.height,
            frame_rate=started.frame_rate,
            transcoded_qualities=started.renditions,
            source_warning=started.source_warning,
            output_ready=False,  # until this publish's master playlist (a late one of the last may have set it)
        )

    def source_changed(self, stream_id: int, source_type: str | None, source: SourceEvent) -> None:
        """The output now comes from the other publisher (main ↔ backup)."""
        values = {"stream_source_type": source_type, "source_warning": source.source_warning}
        for field, key in (("video_width", "width"), ("video_height", "height"), ("frame_rate", "frame_rate")):
            if getattr(source, key):
                values[field] = getattr(source, key)
        self.set(stream_id, **values)

    def output_ready(self, stream_id: int) -> None:
        """The stream's master playlist answers: players can start (Gcore's "transcoding" stage)."""
        self.set(stream_id, output_ready=True)

    def backup_joined(self, stream_id: int) -> None:
        self.set(stream_id, backup_live=True, started_at_backup=now())

    def backup_left(self, stream_id: int) -> None:
        self.set(stream_id, backup_live=False)

    def stats(self, stream_id: int, stats: Stats) -> None:
        values = {"transcoding_speed": stats.speed}
        for field, key in (("frame_rate", "frame_rate"), ("video_width", "width"), ("video_height", "height")):
            if getattr(stats, key):
                values[field] = getattr(stats, key)
        moment = self.clock()
        last = self.stats_written.get(stream_id)
        if last is not None and moment - last[0] < STATS_EVERY and not _stats_moved(last[1], values):
            return
        self.stats_written[stream_id] = (moment, values)
        self.set(stream_id, **values)

    def went_offline(self, stream_id: int) -> None:
        self.stats_written.pop(stream_id, None)
        self.set(stream_id, **OFFLINE, finished_at_primary=now())

    async def flush(self) -> None:
        await self.idle.wait()

    async def close(self) -> None:
        """Waits for the last writes (CLOSE_WAIT at most: the database may be away)."""
        try:
            await asyncio.wait_for(self.flush(), CLOSE_WAIT)
        except TimeoutError:
            log.warning("status of %d stream(s) not written at shutdown: database unavailable", len(self.pending))
        if self.task:
            self.task.cancel()

    async def _run(self) -> None:
        retry = STATUS_RETRY_FIRST
        failing_since: float | None = None
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            batches, self.queued, self.pending = [*self.queued, self.pending], [], {}
            unwritten = await self._write_in_order(batches)
            if not unwritten:
                if failing_since is not None:
                    log.info("stream status writes go through again after %.0f s", time.monotonic() - failing_since)
                retry, failing_since = STATUS_RETRY_FIRST, None
            else:
                self._put_back(unwritten)
                failing_since = failing_since or time.monotonic()
                await asyncio.sleep(retry)
                retry = min(retry * 2, STATUS_RETRY_MAX)
                self.wakeup.set()
            if not self.pending and not self.queued:
                self.idle.set()

    async def _write_in_order(self, batches: list[dict[int, dict]]) -> list[dict[int, dict]]:
        """The batches not written because the database is away (the first failing one on)."""
        for index, batch in enumerate(batches):
            if not await self._write(batch):
                return batches[index:]
        return []

    def _put_back(self, unwritten: list[dict[int, dict]]) -> None:
        """Unwritten batches go before what came since. With webhooks on each stays its own
        write (its own stage, its own event); without, they are one batch under the newer values."""
        if self.outbox is not None:
            self.queued = [*unwritten, *self.queued]
            return
        merged: dict[int, dict] = {}
        for batch in [*unwritten, *self.queued]:
            merged = _merged(merged, batch)
        self.queued, self.pending = [], _merged(merged, self.pending)

    async def _write(self, batch: dict[int, dict]) -> bool:
        """False when the database is away (the batch is to be tried again)."""
        began = time.perf_counter()
        try:
            async with self.db_sessions() as db:
                await StreamRepository(db).set_status(batch, self.outbox)
        except Exception as error:
            if is_unavailable(error):
                self.outage.failed(error)
                return False
            log.exception("writing stream status failed")
        finally:
            self.writes += 1
            self.write_seconds += time.perf_counter() - began
        return True

    async def reset_all(self, keep: Collection[int]) -> None:
        """At start: no stream is live on a node that just started; those in `keep` are
        live on another node sharing the database."""
        async with self.db_sessions() as db:
            await StreamRepository(db).reset_live(keep, self.outbox)


def _merged(older: dict[int, dict], newer: dict[int, dict]) -> dict[int, dict]:
    """Both batches as one, per stream; a field set in both keeps its newer value."""
    merged = {stream_id: dict(values) for stream_id, values in older.items()}
    for stream_id, values in newer.items():
        merged.setdefault(stream_id, {}).update(values)
    return merged


def _stats_moved(written: dict, values: dict) -> bool:
    """Does `values` say something `written` did not (beyond measurement jitter)?"""
    if written.keys() != values.keys():
        return True
    for field, value in values.items():
        old = written[field]
        if value is None or old is None:
            if value is not old:
                return True
        elif field == "transcoding_speed":
            if abs(value - old) > STATS_SPEED_STEP:
                return True
        elif field == "frame_rate":
            if abs(value - old) > STATS_FRAME_RATE_STEP:
                return True
        elif value != old:
            return True
    return False
