"""Video entities: what recordings of live streams produce."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.api.deps import Authorized, db_session, settings
from server.api.errors import not_found
from server.api.paging import Page, fetch_page, page_params
from server.api.serialize import video_out
from server.db.models import Video
from server.settings import Settings

router = APIRouter(tags=["videos"], dependencies=[Authorized])


class VideoChanges(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = None
    client_user_id: int | None = None
    projection: str | None = Field(default=None, pattern="^(regular|vr360|vr180|vr360tb)$")


async def load_video(session: AsyncSession, video_id: int) -> Video:
    video = await session.get(Video, video_id)
    if video is None:
        raise not_found("Video", video_id)
    return video


@router.get("/videos")
async def list_videos(
    response: Response,
    page: Page = Depends(page_params),
    stream_id: int | None = Query(None),
    status: str | None = Query(None),
    search: str | None = Query(None),
    client_user_id: int | None = Query(None),
    session: AsyncSession = Depends(db_session),
    config: Settings = Depends(settings),
) -> list[dict]:
    query = select(Video).order_by(Video.id.desc())
    if stream_id is not None:
        query = query.where(Video.stream_id == stream_id)
    if status:
        query = query.where(Video.status == status)
    if search:
        query = query.where(Video.name.contains(search))
    if client_user_id is not None:
        query = query.where(Video.client_user_id == client_user_id)
    return [video_out(v, config) for v in await fetch_page(session, query, page, response)]


@router.get("/videos/{video_id}")
async def get_video(
    video_id: int, session: AsyncSession = Depends(db_session), config: Settings = Depends(settings)
) -> dict:
    return video_out(await load_video(session, video_id), config)


@router.patch("/videos/{video_id}")
async def update_video(
    video_id: int,
    body: VideoChanges,
    session: AsyncSession = Depends(db_session),
    config: Settings = Depends(settings),
) -> dict:
    video = await load_video(session, video_id)
    for field, value in body.model_dump(include=body.model_fields_set).items():
        if value is not None or field in ("description", "client_user_id"):
            setattr(video, field, value)
    await session.commit()
    await session.refresh(video)
    return video_out(video, config)


@router.delete("/videos/{video_id}", status_code=204)
async def delete_video(video_id: int, session: AsyncSession = Depends(db_session)) -> Response:
    await session.delete(await load_video(session, video_id))
    await session.commit()
    return Response(status_code=204)
