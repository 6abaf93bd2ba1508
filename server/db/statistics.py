"""Every query of the statistics tables: the viewer sessions and live minutes the node
writes (server/metrics/session_flush.py), and what the statistics API reads of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, literal, select, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import LiveMinute, Stream, ViewerSessionRow


@dataclass(frozen=True)
class SessionFilter:
    """Which sessions a statistics request counts: those overlapping [start, end)."""

    start: float
    end: float
    stream_id: int | None = None
    client_user_id: int | None = None  # the stream's, as its row says now


@dataclass(frozen=True)
class StoredSession:
    stream_id: int
    client_hash: str
    started_at: float
    last_seen_at: float


class StatisticsRepository:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    # -- the node's writes -----------------------------------------------------------------
    async def write_sessions(self, new: Sequence[dict[str, Any]], seen: Sequence[dict[str, Any]]) -> None:
        """Insert the `new` sessions' rows and move the `seen` ones' `last_seen_at` and
        `seconds` on, in one transaction (one statement each, executemany)."""
        table = cast(Table, ViewerSessionRow.__table__)  # Core statements: executemany, no ORM bulk rules
        if new:
            await self.db.execute(table.insert(), list(new))
        if seen:
            statement = (
                update(table)
                .where(table.c.id == bindparam("row_id"))
                .values(last_seen_at=bindparam("last_seen_at"), seconds=bindparam("seconds"))
            )
            await self.db.execute(statement, list(seen))
        await self.db.commit()

    async def mark_live_minute(self, minute: int) -> None:
        """Every stream live now (on any node: the `live` flags) was live in `minute`."""
        insert = postgres_insert if self.db.get_bind().dialect.name == "postgresql" else sqlite_insert
        live = select(literal(minute), Stream.id).where(Stream.live.is_(True))
        statement = insert(LiveMinute).from_select(["minute", "stream_id"], live).on_conflict_do_nothing()
        await self.db.execute(statement)
        await self.db.commit()

    # -- the API's reads ------------------------------------------------------------------------
    async def sessions(self, where: SessionFilter) -> list[StoredSession]:
        """The sessions overlapping [start, end), oldest first."""
        row = ViewerSessionRow
        query = select(row.stream_id, row.client_hash, row.started_at, row.last_seen_at).where(
            row.started_at < where.end, row.last_seen_at >= where.start
        )
        if where.stream_id is not None:
            query = query.where(row.stream_id == where.stream_id)
        if where.client_user_id is not None:
            owned = select(Stream.id).where(Stream.client_user_id == where.client_user_id)
            query = query.where(row.stream_id.in_(owned))
        result = await self.db.execute(query.order_by(row.started_at))
        return [StoredSession(*found) for found in result.all()]

    async def first_session_start(self) -> float | None:
        return await self.db.scalar(select(ViewerSessionRow.started_at).order_by(ViewerSessionRow.started_at).limit(1))

    async def live_minutes(self, start: float, end: float) -> list[tuple[int, int]]:
        """(minute, stream_id) of every minute starting in [start, end) with a stream live."""
        query = select(LiveMinute.minute, LiveMinute.stream_id).where(
            LiveMinute.minute >= start, LiveMinute.minute < end
        )
        result = await self.db.execute(query)
        return [(int(minute), int(stream_id)) for minute, stream_id in result.all()]
