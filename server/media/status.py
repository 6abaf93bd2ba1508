"""Writes the live status fields of streams (`live`, `transcoding_speed`, ...) to the DB.

Updates go through one queue and one task, in order, so the request path and the worker's
event path never wait on SQL, and a burst of stats collapses into one write per stream.

Stats arrive every second per stream, and one UPDATE + commit costs about 2 ms of the node's
CPU (SQLAlchemy + aiosqlite), a tenth of a passthrough stream's whole node cost. So a stats
event is written only when it says something new (size changed, speed or frame rate moved
by more than STATS_SPEED_STEP / STATS_FRAME_RATE_STEP) or STATS_EVERY seconds after the last
written one; the other fields are written when they happen.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.streams import OFFLINE, StreamRepository
from transcode.contract import SourceEvent, Stats

log = logging.getLogger("headwater.status")

STATS_EVERY = 5.0  # seconds
STATS_SPEED_STEP = 0.05  # media seconds per wall second
STATS_FRAME_RATE_STEP = 0.5  # frames per second


def now() -> datetime:
    return datetime.now(UTC)


class StatusWriter:
    def __init__(
        self, db_sessions: async_sessionmaker[AsyncSession], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.db_sessions = db_sessions
        self.clock = clock
        self.stats_written: dict[int, tuple[float, dict]] = {}  # stream → (when, values)
        self.pending: dict[int, dict] = {}
        self.wakeup = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()
        self.task: asyncio.Task | None = None
        self.writes = 0  # batches written, and the seconds they took: /metrics' database latency
        self.write_seconds = 0.0

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    def set(self, stream_id: int, **values) -> None:
        self.pending.setdefault(stream_id, {}).update(values)
        self.idle.clear()
        self.wakeup.set()

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
        )

    def source_changed(self, stream_id: int, source_type: str | None, source: SourceEvent) -> None:
        """The output now comes from the other publisher (main ↔ backup)."""
        values = {"stream_source_type": source_type, "source_warning": source.source_warning}
        for field, key in (("video_width", "width"), ("video_height", "height"), ("frame_rate", "frame_rate")):
            if getattr(source, key):
                values[field] = getattr(source, key)
        self.set(stream_id, **values)

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
        await self.flush()
        if self.task:
            self.task.cancel()

    async def _run(self) -> None:
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            batch, self.pending = self.pending, {}
            began = time.perf_counter()
            try:
                async with self.db_sessions() as db:
                    await StreamRepository(db).set_status(batch)
            except Exception:
                log.exception("writing stream status failed")
            self.writes += 1
            self.write_seconds += time.perf_counter() - began
            if not self.pending:
                self.idle.set()

    async def reset_all(self, keep: Collection[int]) -> None:
        """At start: no stream is live on a node that just started; those in `keep` are
        live on another node sharing the database."""
        async with self.db_sessions() as db:
            await StreamRepository(db).reset_live(keep)


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
