"""Writes the viewer sessions and the live minutes to SQL every few seconds, off the delivery
path, for the statistics API (server/api/statistics.py).

Each write: the rows of the sessions that started since the last write (inserted, with
their client hash) and the new `last_seen_at` of those seen since (updated), in one
transaction; then, while this node runs a stream, the current minute's row for every stream
live (a conflict with the row already there is ignored). A session costs one row for its
whole life, however long it watches; a node with nothing live and nobody watching writes
nothing. A write that fails (the database away) keeps its sessions for the next one; the
node never waits on it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ingest.rtmp.rests import grid_delay
from server.db.node_settings import statistics_salt
from server.db.outage import OutageNotice, is_unavailable
from server.db.statistics import StatisticsRepository
from server.metrics.stream_meter import StreamMeters
from server.metrics.viewer_sessions import ViewerSession

log = logging.getLogger("headwater.statistics")


def client_hash(salt: bytes, session: ViewerSession) -> str:
    """A viewer's address and user agent, hashed with the installation's secret salt: the
    same viewer is the same hash across its sessions (unique viewers), and the address is
    never stored."""
    digest = hashlib.sha256(salt + session.client.encode() + b"\0" + session.user_agent)
    return digest.hexdigest()[:32]


class SessionFlush:
    def __init__(
        self,
        meters: StreamMeters,
        db_sessions: async_sessionmaker[AsyncSession],
        interval: float,
        live_here: Callable[[], bool],
    ) -> None:
        """`live_here()`: whether this node runs a stream now (its live minutes to mark)."""
        self.meters = meters
        self.db_sessions = db_sessions
        self.interval = interval
        self.live_here = live_here
        self.salt: bytes | None = None
        self.outage = OutageNotice("viewer sessions kept for later")
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def close(self) -> None:
        """Stops the timer and writes what is left (the last reloads before a shutdown)."""
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            self.task = None
        self.meters.hand_over(time.time())
        await self.flush()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(grid_delay(loop.time(), self.interval))
            await self.flush()

    async def flush(self) -> None:
        minute = int(time.time() // 60) * 60
        sessions = self.meters.take_changed()
        live = self.live_here()
        if not sessions and not live:
            return
        try:
            async with self.db_sessions() as db:
                statistics = StatisticsRepository(db)
                if sessions:
                    if self.salt is None:
                        self.salt = await statistics_salt(db)
                    await statistics.write_sessions(*self.rows(sessions, self.salt))
                if live:
                    await statistics.mark_live_minute(minute)
        except Exception as error:  # the database away: nothing is lost, the next write tries again
            if is_unavailable(error):
                self.outage.failed(error)
            else:
                log.warning("writing %d viewer sessions failed; trying again later", len(sessions), exc_info=True)
            self.meters.given_back(sessions)
            return
        for session in sessions:
            session.stored = True

    @staticmethod
    def rows(sessions: list[ViewerSession], salt: bytes) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        new: list[dict[str, Any]] = []
        seen: list[dict[str, Any]] = []
        for session in sessions:
            if session.stored:
                seen.append({"row_id": session.id, "last_seen_at": session.last_seen, "seconds": session.seconds})
            else:
                new.append(
                    {
                        "id": session.id,
                        "stream_id": session.stream_id,
                        "protocol": session.protocol,
                        "client_hash": client_hash(salt, session),
                        "started_at": session.started,
                        "last_seen_at": session.last_seen,
                        "seconds": session.seconds,
                    }
                )
        return new, seen
