"""Instant clips (Gcore's `clip_recording`, the SDK's `streams.clips`): create and list.

Checks, each a 4xx naming the field: the stream must have DVR (`dvr_enabled`: 422, as the
SDK documents) and be live here (400); `duration` at most the DVR window; `start` (default
now) inside the window as it is now; `expiration` (default the clip's end + 3600 s) from 1
minute to 4 hours after the clip's end (the SDK's "1m <= expiration <= 4h").
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from server.api import schemas
from server.api.deps import DB, Authorized, Config, Playback
from server.api.streams import live_stream
from server.db.streams import StreamRepository
from server.errors import ERROR_RESPONSES, BadRequest, invalid_field
from server.media.clips import Clips, oldest_wall_clock

router = APIRouter(tags=["streams"], dependencies=[Authorized], responses=ERROR_RESPONSES)

DEFAULT_EXPIRATION = 3600  # seconds after the clip's end (Gcore's default)
EXPIRATION_RANGE = (60, 4 * 3600)  # the SDK's "1m <= expiration <= 4h", after the clip's end


class ClipCreate(BaseModel):
    duration: int = Field(ge=1)
    start: int | None = Field(default=None, ge=0)
    expiration: int | None = Field(default=None, ge=0)
    vod_required: bool = False


def node_clips(request: Request) -> Clips | None:
    media = getattr(request.app.state, "media", None)
    return media.clips if media is not None else None


@router.put("/streams/{stream_id}/clip_recording", response_model=schemas.Clip)
async def create_clip(
    stream_id: int, body: ClipCreate, request: Request, db: DB, config: Config, playback: Playback
) -> schemas.Clip:
    """Cut a clip out of the live stream's DVR window (segments from keyframe to keyframe)."""
    stream = await StreamRepository(db).require(stream_id)
    if not stream.dvr_enabled:
        raise invalid_field("dvr_enabled", f"is false on stream {stream_id}: clips are cut from the DVR window")
    await live_stream(db, stream_id, "a clip")
    clips = node_clips(request)
    live = clips.lookup(stream_id) if clips is not None else None
    if clips is None or live is None:
        raise BadRequest(f"Stream {stream_id} is not live on this node: a clip needs its DVR window")
    now = time.time()
    if body.duration > stream.dvr_duration:
        raise invalid_field("duration", f"{body.duration} s is longer than the DVR window ({stream.dvr_duration} s)")
    start = int(now) if body.start is None else body.start
    oldest = oldest_wall_clock(live)
    if oldest is None or start < int(oldest) or start > now:
        window = f"{int(oldest)}..{int(now)}" if oldest is not None else "empty"
        raise invalid_field("start", f"{start} is outside the DVR window ({window}, unix seconds)")
    end = start + body.duration
    expiration = end + DEFAULT_EXPIRATION if body.expiration is None else body.expiration
    low, high = EXPIRATION_RANGE
    if not end + low <= expiration <= end + high:
        raise invalid_field(
            "expiration", f"must be 1 minute to 4 hours after the clip's end ({end + low}..{end + high}, unix seconds)"
        )
    clip = await clips.create(stream_id, start, body.duration, expiration, body.vod_required)
    return schemas.Clip.of(clip, config, playback)


@router.get("/streams/{stream_id}/clip_recording", response_model=list[schemas.Clip])
async def list_clips(
    stream_id: int, request: Request, db: DB, config: Config, playback: Playback
) -> list[schemas.Clip]:
    """The stream's clips not expired yet."""
    await StreamRepository(db).require(stream_id)
    clips = node_clips(request)
    return [
        schemas.Clip.of(clip, config, playback) for clip in (clips.of_stream(stream_id) if clips is not None else [])
    ]
