"""Video entities: what recordings of live streams produce."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from server.api import schemas
from server.api.deps import DB, Authorized, Config, Paging, with_total
from server.db.videos import VideoFilter, VideoRepository
from server.errors import ERROR_RESPONSES

router = APIRouter(tags=["videos"], dependencies=[Authorized], responses=ERROR_RESPONSES)

CLEARABLE = ("description", "client_user_id")  # a null in the body clears these


class VideoChanges(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = None
    client_user_id: int | None = None
    projection: str | None = Field(default=None, pattern="^(regular|vr360|vr180|vr360tb)$")


@router.get("/videos", response_model=list[schemas.Video])
async def list_videos(
    response: Response,
    page: Paging,
    db: DB,
    config: Config,
    stream_id: int | None = None,
    status: str | None = None,
    search: str | None = Query(None, description="Part of the name"),
    client_user_id: int | None = None,
) -> list[schemas.Video]:
    where = VideoFilter(stream_id=stream_id, status=status, search=search, client_user_id=client_user_id)
    found = await VideoRepository(db).page(page, where)
    with_total(response, found.total)
    return [schemas.Video.of(v, config) for v in found.rows]


@router.get("/videos/{video_id}", response_model=schemas.Video)
async def get_video(video_id: int, db: DB, config: Config) -> schemas.Video:
    return schemas.Video.of(await VideoRepository(db).require(video_id), config)


@router.patch("/videos/{video_id}", response_model=schemas.Video)
async def update_video(video_id: int, body: VideoChanges, db: DB, config: Config) -> schemas.Video:
    videos = VideoRepository(db)
    video = await videos.require(video_id)
    for field, value in body.model_dump(include=body.model_fields_set).items():
        if value is not None or field in CLEARABLE:
            setattr(video, field, value)
    return schemas.Video.of(await videos.save(video), config)


@router.delete("/videos/{video_id}", status_code=204, response_class=Response)
async def delete_video(video_id: int, db: DB) -> Response:
    videos = VideoRepository(db)
    await videos.delete(await videos.require(video_id))
    return Response(status_code=204)
