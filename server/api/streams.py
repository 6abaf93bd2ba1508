"""Streams: create, read, update, list, delete, and the live-only actions."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.api.deps import Authorized, db_session, settings
from server.api.errors import not_found, unprocessable
from server.api.paging import Page, fetch_page, page_params
from server.api.serialize import stream_out
from server.api.stream_fields import StreamCreate, StreamUpdate
from server.db.models import QualitySet, Stream
from server.settings import Settings

router = APIRouter(tags=["streams"], dependencies=[Authorized])

TOKEN_BYTES = 16  # 128 bits


async def load_stream(session: AsyncSession, stream_id: int) -> Stream:
    stream = await session.get(Stream, stream_id)
    if stream is None:
        raise not_found("Stream", stream_id)
    return stream


async def check_consistency(session: AsyncSession, stream: Stream) -> None:
    """Rules across fields or tables, applied to the stream as it would be saved."""
    if stream.pull and not stream.uri:
        raise unprocessable("uri", "is required when pull is true")
    if stream.quality_set_id is not None:
        quality_set = await session.get(QualitySet, stream.quality_set_id)
        if quality_set is None or quality_set.kind != "live":
            raise unprocessable("quality_set_id", f"no live quality set {stream.quality_set_id}")


async def notify_media(request: Request, stream_id: int) -> None:
    """Tell the media side a stream's configuration changed (deactivated, deleted, ...)."""
    media = getattr(request.app.state, "media", None)
    if media is not None:
        await media.stream_changed(stream_id)


@router.post("/streams", status_code=201)
async def create_stream(
    body: StreamCreate,
    request: Request,
    session: AsyncSession = Depends(db_session),
    config: Settings = Depends(settings),
) -> dict:
    stream = Stream(**body.model_dump(), token=secrets.token_hex(TOKEN_BYTES))
    await check_consistency(session, stream)
    session.add(stream)
    await session.commit()
    await session.refresh(stream)
    await notify_media(request, stream.id)  # a pull stream starts pulling now
    return stream_out(stream, config)


@router.get("/streams")
async def list_streams(
    response: Response,
    page: Page = Depends(page_params),
    session: AsyncSession = Depends(db_session),
    config: Settings = Depends(settings),
) -> list[dict]:
    streams = await fetch_page(session, select(Stream).order_by(Stream.id.desc()), page, response)
    return [stream_out(s, config) for s in streams]


@router.get("/streams/{stream_id}")
async def get_stream(
    stream_id: int, session: AsyncSession = Depends(db_session), config: Settings = Depends(settings)
) -> dict:
    return stream_out(await load_stream(session, stream_id), config)


@router.patch("/streams/{stream_id}")
async def update_stream(
    stream_id: int,
    body: StreamUpdate,
    request: Request,
    session: AsyncSession = Depends(db_session),
    config: Settings = Depends(settings),
) -> dict:
    stream = await load_stream(session, stream_id)
    for field, value in body.stream.changes().items():
        setattr(stream, field, value)
    await check_consistency(session, stream)
    await session.commit()
    await session.refresh(stream)
    await notify_media(request, stream_id)
    return stream_out(stream, config)


@router.delete("/streams/{stream_id}", status_code=204)
async def delete_stream(
    stream_id: int, request: Request, session: AsyncSession = Depends(db_session)
) -> Response:
    await session.delete(await load_stream(session, stream_id))
    await session.commit()
    await notify_media(request, stream_id)
    return Response(status_code=204)


def not_live(stream: Stream, action: str) -> HTTPException:
    return HTTPException(
        status_code=400,
        detail=f"Stream {stream.id} is not live: {action} needs a live stream; start pushing first",
    )


async def live_stream(session: AsyncSession, stream_id: int, action: str) -> Stream:
    stream = await load_stream(session, stream_id)
    if not stream.live:
        raise not_live(stream, action)
    return stream


@router.put("/streams/{stream_id}/start_recording")
async def start_recording(stream_id: int, session: AsyncSession = Depends(db_session)) -> dict:
    await live_stream(session, stream_id, "recording")
    raise HTTPException(status_code=501, detail="Recording is not available yet on this node")


@router.put("/streams/{stream_id}/stop_recording")
async def stop_recording(stream_id: int, session: AsyncSession = Depends(db_session)) -> dict:
    await live_stream(session, stream_id, "stopping a recording")
    raise HTTPException(status_code=501, detail="Recording is not available yet on this node")


@router.put("/streams/{stream_id}/dvr_cleanup", status_code=204)
async def dvr_cleanup(stream_id: int, session: AsyncSession = Depends(db_session)) -> Response:
    stream = await live_stream(session, stream_id, "DVR cleanup")
    if not stream.dvr_enabled:
        raise HTTPException(status_code=400, detail=f"Stream {stream_id} has DVR disabled")
    raise HTTPException(status_code=501, detail="DVR is not available yet on this node")
