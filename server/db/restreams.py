"""Every query of the `restreams` table: the API's, and the node's (which restreams each
stream forwards to, and their `live` flag)."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Restream
from server.db.paging import Page, PageOf, fetch_page
from server.errors import NotFound

if TYPE_CHECKING:
    from server.webhooks.outbox import Outbox


class RestreamRepository:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def require(self, restream_id: int) -> Restream:
        restream = await self.db.get(Restream, restream_id)
        if restream is None:
            raise NotFound("Restream", restream_id)
        return restream

    async def page(self, page: Page) -> PageOf[Restream]:
        """Newest first, as streams and videos are listed."""
        return await fetch_page(self.db, select(Restream).order_by(Restream.id.desc()), page)

    async def add(self, restream: Restream) -> Restream:
        self.db.add(restream)
        return await self.save(restream)

    async def save(self, restream: Restream) -> Restream:
        await self.db.commit()
        await self.db.refresh(restream)
        return restream

    async def delete(self, restream: Restream) -> None:
        await self.db.delete(restream)
        await self.db.commit()

    async def of_stream(self, stream_id: int) -> list[Restream]:
        query = select(Restream).where(Restream.stream_id == stream_id).order_by(Restream.id)
        return list((await self.db.scalars(query)).all())

    async def every(self) -> list[Restream]:
        return list((await self.db.scalars(select(Restream).order_by(Restream.id))).all())

    async def set_live(self, live: dict[int, bool], outbox: Outbox | None = None) -> None:
        """Each restream's `live` (a deleted one is skipped), with its webhook in the same commit."""
        for restream_id, value in live.items():
            await self.db.execute(update(Restream).where(Restream.id == restream_id).values(live=value))
            if outbox is not None and outbox.enabled:
                row = await self.db.get(Restream, restream_id, populate_existing=True)
                if row is not None:
                    outbox.restream_changed(self.db, row)
        await self.db.commit()

    async def reset_live(self, keep: Collection[int] = (), outbox: Outbox | None = None) -> None:
        """Nothing forwards on a node that starts but the restreams of the streams in `keep`
        (another node sharing the database runs those). A node that died owes the others'
        "stopped" events."""
        left_live = Restream.live.is_(True), Restream.stream_id.not_in(keep)
        if outbox is not None and outbox.enabled:
            await self.set_live(
                {row.id: False for row in await self.db.scalars(select(Restream).where(*left_live))}, outbox
            )
            return
        await self.db.execute(update(Restream).where(*left_live).values(live=False))
        await self.db.commit()
