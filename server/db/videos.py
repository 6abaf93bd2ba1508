"""Every query of the `videos` table (what recordings produce)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Video
from server.db.paging import Page, PageOf, fetch_page
from server.errors import NotFound

if TYPE_CHECKING:
    from server.webhooks.outbox import Outbox


@dataclass(frozen=True)
class VideoFilter:
    stream_id: int | None = None
    status: str | None = None
    search: str | None = None  # the id, the slug, or part of the name (Gcore's one criterion)
    client_user_id: int | None = None
    ids: Sequence[int] | None = None


class VideoRepository:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def require(self, video_id: int) -> Video:
        video = await self.db.get(Video, video_id)
        if video is None:
            raise NotFound("Video", video_id)
        return video

    async def page(self, page: Page, where: VideoFilter) -> PageOf[Video]:
        """Newest first."""
        query = select(Video).order_by(Video.id.desc())
        if where.stream_id is not None:
            query = query.where(Video.stream_id == where.stream_id)
        if where.status:
            query = query.where(Video.status == where.status)
        if where.search:
            matches = [Video.name.contains(where.search), Video.recording_key == where.search]
            if where.search.isdigit() and int(where.search) < 2**31:
                matches.append(Video.id == int(where.search))
            query = query.where(or_(*matches))
        if where.ids is not None:
            query = query.where(Video.id.in_(where.ids))
        if where.client_user_id is not None:
            query = query.where(Video.client_user_id == where.client_user_id)
        return await fetch_page(self.db, query, page)

    async def names(self, ids: Sequence[int]) -> list[tuple[int, str]]:
        """(id, name) of those of `ids` that exist, in id order."""
        rows = await self.db.execute(select(Video.id, Video.name).where(Video.id.in_(ids)).order_by(Video.id))
        return [(video_id, name) for video_id, name in rows]

    async def playable(self, video_id: int) -> Video | None:
        """The video if it is ready and has a recording (what its playback URLs serve)."""
        video = await self.db.get(Video, video_id)
        return video if video is not None and video.status == "ready" and video.recording_key else None

    async def save(self, video: Video) -> Video:
        await self.db.commit()
        await self.db.refresh(video)
        return video

    async def delete(self, video: Video, outbox: Outbox | None = None) -> None:
        """The row, with its "video_delete" webhook in the same commit."""
        if outbox is not None:
            outbox.video_deleted(self.db, video)
        await self.db.delete(video)
        await self.db.commit()
