"""Streams: create, read, update, list, delete, and the live-only actions."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from server.api import schemas
from server.api.deps import DB, Authorized, Config, Paging, Playback, notify_media, with_total
from server.api.stream_fields import StreamCreate, StreamUpdate
from server.db.models import Stream
from server.db.quality_sets import QualitySetRepository
from server.db.streams import StreamRepository
from server.errors import ERROR_RESPONSES, BadRequest, invalid_field

router = APIRouter(tags=["streams"], dependencies=[Authorized], responses=ERROR_RESPONSES)

TOKEN_BYTES = 16  # 128 bits


async def check_consistency(db: AsyncSession, stream: Stream) -> None:
    """Rules across fields or tables, applied to the stream as it would be saved."""
    if stream.pull and not stream.uri:
        raise invalid_field("uri", "is required when pull is true")
    if stream.quality_set_id is not None and await QualitySetRepository(db).get(stream.quality_set_id, "live") is None:
        raise invalid_field("quality_set_id", f"no live quality set {stream.quality_set_id}")


@router.post("/streams", status_code=201, response_model=schemas.Stream)
async def create_stream(
    body: StreamCreate, request: Request, db: DB, config: Config, playback: Playback
) -> schemas.Stream:
    stream = Stream(**body.model_dump(), token=secrets.token_hex(TOKEN_BYTES))
    await check_consistency(db, stream)
    stream = await StreamRepository(db).add(stream)
    await notify_media(request, stream.id)  # a pull stream starts pulling now
    return schemas.Stream.of(stream, config, playback)


@router.get("/streams", response_model=list[schemas.Stream])
async def list_streams(
    response: Response, page: Paging, db: DB, config: Config, playback: Playback
) -> list[schemas.Stream]:
    found = await StreamRepository(db).page(page)
    with_total(response, found.total)
    return [schemas.Stream.of(s, config, playback) for s in found.rows]


@router.get("/streams/{stream_id}", response_model=schemas.Stream)
async def get_stream(stream_id: int, db: DB, config: Config, playback: Playback) -> schemas.Stream:
    return schemas.Stream.of(await StreamRepository(db).require(stream_id), config, playback)


@router.patch("/streams/{stream_id}", response_model=schemas.Stream)
async def update_stream(
    stream_id: int, body: StreamUpdate, request: Request, db: DB, config: Config, playback: Playback
) -> schemas.Stream:
    streams = StreamRepository(db)
    stream = await streams.require(stream_id)
    for field, value in body.stream.changes().items():
        setattr(stream, field, value)
    await check_consistency(db, stream)
    stream = await streams.save(stream)
    await notify_media(request, stream_id)
    return schemas.Stream.of(stream, config, playback)


@router.delete("/streams/{stream_id}", status_code=204, response_class=Response)
async def delete_stream(stream_id: int, request: Request, db: DB) -> Response:
    streams = StreamRepository(db)
    await streams.delete(await streams.require(stream_id))
    await notify_media(request, stream_id)
    request.app.state.screenshots.remove(stream_id)
    return Response(status_code=204)


async def live_stream(db: AsyncSession, stream_id: int, action: str) -> Stream:
    """The stream, if it is live: a live-only action on an idle one is a 400."""
    stream = await StreamRepository(db).require(stream_id)
    if not stream.live:
        raise BadRequest(f"Stream {stream.id} is not live: {action} needs a live stream; start pushing first")
    return stream


@router.put("/streams/{stream_id}/start_recording", response_model=schemas.StreamStartRecordingResponse)
async def start_recording(stream_id: int, request: Request, db: DB) -> schemas.StreamStartRecordingResponse:
    """Record the live stream from its next keyframe into a new video; a recording already
    running goes on."""
    await live_stream(db, stream_id, "recording")
    media = getattr(request.app.state, "media", None)
    if media is None or not media.start_recording(stream_id):
        raise BadRequest(f"Stream {stream_id} is not live on this node: recording needs a live stream")
    return schemas.StreamStartRecordingResponse.of(stream_id)


@router.put(
    "/streams/{stream_id}/stop_recording",
    response_model=None,
    responses={200: {"model": schemas.Video, "description": "The video, or an empty object if nothing recorded"}},
)
async def stop_recording(stream_id: int, request: Request, db: DB, config: Config, playback: Playback) -> JSONResponse:
    """End the recording with the segment being written: its video (status pending until
    finalized), or an empty object when nothing was recording."""
    await StreamRepository(db).require(stream_id)
    media = getattr(request.app.state, "media", None)
    video = await media.stop_recording(stream_id) if media is not None else None
    return JSONResponse(schemas.Video.of(video, config, playback).model_dump(mode="json") if video is not None else {})


@router.put("/streams/{stream_id}/dvr_cleanup", status_code=204, response_class=Response)
async def dvr_cleanup(stream_id: int, request: Request, db: DB) -> Response:
    """Restart the live DVR window at the live edge and free its disk (players play on live)."""
    stream = await live_stream(db, stream_id, "DVR cleanup")
    if not stream.dvr_enabled:
        raise BadRequest(f"Stream {stream_id} has DVR disabled: there is no DVR window to clean up")
    media = getattr(request.app.state, "media", None)
    if media is None or not media.clear_dvr(stream_id):
        raise BadRequest(f"Stream {stream_id} is not live on this node: there is no DVR window to clean up")
    return Response(status_code=204)
