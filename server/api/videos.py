"""Video entities: what recordings of live streams produce (Gcore's `/streaming/videos`)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from server.api import schemas
from server.api.deps import DB, Authorized, Config, Paging, Playback, with_total
from server.db.models import Video
from server.db.videos import VideoFilter, VideoRepository
from server.errors import ERROR_RESPONSES, BadRequest, Conflict
from server.settings import Settings
from server.storage import RecordingStorage
from server.urls import SCREENSHOT, PlaybackToken

router = APIRouter(tags=["videos"], dependencies=[Authorized], responses=ERROR_RESPONSES)

CLEARABLE = ("description", "client_user_id")  # a null in the body clears these


class VideoChanges(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = None
    client_user_id: int | None = None
    projection: str | None = Field(default=None, pattern="^(regular|vr360|vr180|vr360tb)$")


class VideoName(BaseModel):
    id: int
    name: str


def recording_storage(request: Request) -> RecordingStorage:
    storage: RecordingStorage = request.app.state.recordings
    return storage


Storage = Annotated[RecordingStorage, Depends(recording_storage)]


@router.get("/videos", response_model=list[schemas.Video])
async def list_videos(
    response: Response,
    page: Paging,
    db: DB,
    config: Config,
    playback: Playback,
    storage: Storage,
    id: str | None = Query(None, description="Comma-separated video ids, e.g. 1,101,1001"),
    stream_id: int | None = None,
    status: str | None = None,
    search: str | None = Query(None, description="The id, the slug or part of the name"),
    client_user_id: int | None = None,
    fields: str | None = Query(None, description="Only these fields of each video, e.g. id,name,hls_url"),
) -> list[schemas.Video] | JSONResponse:
    wanted = _fields(fields)
    where = VideoFilter(
        stream_id=stream_id, status=status, search=search, client_user_id=client_user_id, ids=_ids(id, "id")
    )
    found = await VideoRepository(db).page(page, where)
    answers = await _answers(found.rows, config, playback, storage)
    if wanted is None:
        with_total(response, found.total)
        return answers
    short = JSONResponse([answer.model_dump(include=wanted) for answer in answers])
    with_total(short, found.total)
    return short


@router.get("/videos/names", response_model=list[VideoName])
async def video_names(db: DB, ids: list[str] = Query(default_factory=list)) -> list[VideoName]:
    """Names of the given videos (`?ids=7,17`); unknown ids are left out."""
    wanted = _ids(",".join(ids), "ids") or []
    return [VideoName(id=video_id, name=name) for video_id, name in await VideoRepository(db).names(wanted)]


@router.get("/videos/{video_id}", response_model=schemas.Video)
async def get_video(video_id: int, db: DB, config: Config, playback: Playback, storage: Storage) -> schemas.Video:
    return (await _answers([await VideoRepository(db).require(video_id)], config, playback, storage))[0]


@router.patch("/videos/{video_id}", response_model=schemas.Video)
async def update_video(
    video_id: int, body: VideoChanges, db: DB, config: Config, playback: Playback, storage: Storage
) -> schemas.Video:
    videos = VideoRepository(db)
    video = await videos.require(video_id)
    for field, value in body.model_dump(include=body.model_fields_set).items():
        if value is not None or field in CLEARABLE:
            setattr(video, field, value)
    return (await _answers([await videos.save(video)], config, playback, storage))[0]


@router.delete("/videos/{video_id}", status_code=204, response_class=Response)
async def delete_video(video_id: int, request: Request, db: DB, storage: Storage) -> Response:
    """The row, then the recording's files (off the event loop). A video still `pending` is
    being recorded (or finalized): deleting it under the recorder is refused."""
    videos = VideoRepository(db)
    video = await videos.require(video_id)
    if video.status == "pending":
        raise Conflict(f"Video {video_id} is being recorded: stop the recording before deleting it")
    key = video.recording_key
    await videos.delete(video, request.app.state.outbox)
    library: Any = getattr(request.app.state, "vod", None)
    if library is not None:
        library.forget(video_id)
    if key:
        await asyncio.to_thread(storage.delete, key)
    return Response(status_code=204)


async def _answers(
    rows: Sequence[Video], config: Settings, playback: PlaybackToken, storage: RecordingStorage
) -> list[schemas.Video]:
    """The videos as answered, each told whether its recording holds a screenshot (one
    stat each, on a thread)."""
    keys = [video.recording_key if video.status == "ready" else None for video in rows]
    shots = await asyncio.to_thread(lambda: [bool(key and storage.file(key, SCREENSHOT)) for key in keys])
    return [
        schemas.Video.of(video, config, playback, has_screenshot=shot) for video, shot in zip(rows, shots, strict=True)
    ]


def _fields(text: str | None) -> set[str] | None:
    """`?fields=id,name,hls_url`: the fields a short answer keeps (Gcore's list option)."""
    if not text:
        return None
    wanted = {name.strip() for name in text.split(",") if name.strip()}
    unknown = sorted(wanted - set(schemas.Video.model_fields))
    if unknown:
        raise BadRequest(f"fields: no video field {', '.join(unknown)}", errors={"fields": "unknown field"})
    return wanted


def _ids(text: str | None, field: str) -> list[int] | None:
    """`1,101,1001` → [1, 101, 1001]; None when not given."""
    if not text:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise BadRequest(f"{field} must be comma-separated video ids", errors={field: "not a list of ids"}) from None
