"""Every query of the `videos` table (what recordings produce)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Video
from server.db.paging import Page, PageOf, fetch_page
from server.errors import NotFound


@dataclass(frozen=True)
class VideoFilter:
    stream_id: int | None = None
    status: str | None = None
    search: str | None = None  # part of the name
    client_user_id: int | None = None


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
            query = query.where(Video.name.contains(where.search))
        if where.client_user_id is not None:
            query = query.where(Video.client_user_id == where.client_user_id)
        return await fetch_page(self.db, query, page)

    async def save(self, video: Video) -> Video:
        await self.db.commit()
        await self.db.refresh(video)
        return video

    async def delete(self, video: Video) -> None:
        await self.db.delete(video)
        await self.db.commit()
