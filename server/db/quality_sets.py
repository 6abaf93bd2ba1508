"""Every query of the quality sets (ABR ladders): the lists, the account default, and the set
a stream's worker encodes."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import QualitySet, Stream

KINDS = ("live", "vod")
SYSTEM_DEFAULT = {"live": "origin", "vod": "vod_default"}


class QualitySetRepository:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def all(self) -> list[QualitySet]:
        self.db.expire_all()  # a default just changed must be read again
        return list((await self.db.scalars(select(QualitySet).order_by(QualitySet.id))).all())

    async def get(self, quality_set_id: int, kind: str) -> QualitySet | None:
        """The set of that id, if it is of that kind ("live" or "vod")."""
        quality_set = await self.db.get(QualitySet, quality_set_id)
        return quality_set if quality_set is not None and quality_set.kind == kind else None

    async def default(self, kind: str) -> QualitySet | None:
        return await self.db.scalar(select(QualitySet).where(QualitySet.kind == kind, QualitySet.is_default.is_(True)))

    async def built_in_default(self, kind: str) -> QualitySet | None:
        """The set a kind falls back to (`origin` for live: no transcoding)."""
        return await self.db.scalar(
            select(QualitySet).where(QualitySet.kind == kind, QualitySet.name == SYSTEM_DEFAULT[kind])
        )

    async def make_default(self, target: QualitySet) -> None:
        """`target` becomes its kind's only default (committed by `commit`)."""
        await self.db.execute(update(QualitySet).where(QualitySet.kind == target.kind).values(is_default=False))
        target.is_default = True

    async def commit(self) -> None:
        await self.db.commit()

    async def live_set_of(self, stream: Stream) -> QualitySet | None:
        """The set a publish of `stream` gets: its own live set, else the account default."""
        own = await self.get(stream.quality_set_id, "live") if stream.quality_set_id else None
        return own or await self.default("live")
