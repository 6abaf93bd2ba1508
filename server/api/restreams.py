"""Restreams (`/streaming/restreams`, the SDK's `client.streaming.restreams`): targets a live
stream's origin is forwarded to. Create and update take the fields wrapped as
`{"restream": {...}}`; the list is a JSON array paged by `?page=` (`X-Total-Count`).

A bad body is a 422 naming the field: `restream.uri` must be rtmp://host/app/key,
rtmps://host/app/key or srt://host:port (caller mode: Headwater connects to the target),
`restream.stream_id` must name a stream. `live` is the node's to say (a sent value is
ignored). `source: "transcoded"` is refused until the worker forwards a rendition.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field, StrictBool, field_validator

from server.api import schemas
from server.api.deps import DB, Authorized, Paging, with_total
from server.db.models import Restream
from server.db.restreams import RestreamRepository
from server.db.streams import StreamRepository
from server.errors import ERROR_RESPONSES, invalid_field

router = APIRouter(tags=["restreams"], dependencies=[Authorized], responses=ERROR_RESPONSES)

SCHEMES = ("rtmp", "rtmps", "srt")


def check_target(uri: str) -> str:
    """ValueError (the 422's text) unless Headwater can push to `uri`."""
    parts = urlsplit(uri)
    if parts.scheme not in SCHEMES:
        raise ValueError("must be an rtmp://, rtmps:// or srt:// URL")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.scheme == "srt":
        if port is None:
            raise ValueError("an srt:// target needs a port")
        if dict(parse_qsl(parts.query)).get("mode", "caller") != "caller":
            raise ValueError("an srt:// target is called (mode=caller): Headwater connects to it")
    else:
        app, _, key = parts.path.lstrip("/").partition("/")
        if not app or not key:
            raise ValueError("must name an application and a stream key: rtmp://host/app/key")
    return uri


def public_target(uri: str) -> str:
    """The target without its stream key or query (a default name)."""
    parts = urlsplit(uri)
    where = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    app = parts.path.lstrip("/").partition("/")[0]
    return f"{where}/{app}" if app and parts.scheme != "srt" else where


class RestreamFields(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    stream_id: int | None = None
    uri: str | None = None
    active: StrictBool | None = None
    no_audio: StrictBool | None = None
    no_audio_mode: Literal["drop", "silence"] | None = None
    client_user_id: int | None = None
    source: Literal["original", "transcoded"] | None = None
    live: bool | None = None  # the node's to say: ignored

    @field_validator("uri")
    @classmethod
    def _target(cls, value: str | None) -> str | None:
        return check_target(value) if value is not None else None

    @field_validator("source")
    @classmethod
    def _original(cls, value: str | None) -> str | None:
        if value == "transcoded":
            raise ValueError("only 'original' is supported: the origin is forwarded as received")
        return value

    def changes(self) -> dict[str, Any]:
        """The columns the client set (a null clears only `client_user_id`)."""
        sent = self.model_dump(include=self.model_fields_set - {"live", "source"})
        return {k: v for k, v in sent.items() if v is not None or k == "client_user_id"}


class RestreamCreate(BaseModel):
    restream: RestreamFields


class RestreamUpdate(BaseModel):
    restream: RestreamFields


async def _check_stream(db: DB, stream_id: int) -> None:
    if await StreamRepository(db).get(stream_id) is None:
        raise invalid_field("restream.stream_id", f"no stream {stream_id}")


async def _restreams_changed(request: Request, *stream_ids: int) -> None:
    """The media side forwards what the rows now say (a running stream starts, stops or
    reconnects its targets)."""
    media = getattr(request.app.state, "media", None)
    if media is not None:
        for stream_id in dict.fromkeys(stream_ids):
            await media.restreams_changed(stream_id)


@router.post("/restreams", status_code=201, response_model=schemas.Restream)
async def create_restream(body: RestreamCreate, request: Request, db: DB) -> schemas.Restream:
    fields = body.restream.changes()
    for required in ("stream_id", "uri"):
        if fields.get(required) is None:
            raise invalid_field(f"restream.{required}", "is required")
    await _check_stream(db, fields["stream_id"])
    fields.setdefault("name", public_target(fields["uri"]))
    defaults = {"active": True, "no_audio": False, "no_audio_mode": "drop"}
    restream = await RestreamRepository(db).add(Restream(**{**defaults, **fields}))
    await _restreams_changed(request, restream.stream_id)
    return schemas.Restream.of(restream)


@router.get("/restreams", response_model=list[schemas.Restream])
async def list_restreams(response: Response, page: Paging, db: DB) -> list[schemas.Restream]:
    found = await RestreamRepository(db).page(page)
    with_total(response, found.total)
    return [schemas.Restream.of(r) for r in found.rows]


@router.get("/restreams/{restream_id}", response_model=schemas.Restream)
async def get_restream(restream_id: int, db: DB) -> schemas.Restream:
    return schemas.Restream.of(await RestreamRepository(db).require(restream_id))


@router.patch("/restreams/{restream_id}", response_model=schemas.Restream)
async def update_restream(restream_id: int, body: RestreamUpdate, request: Request, db: DB) -> schemas.Restream:
    restreams = RestreamRepository(db)
    restream = await restreams.require(restream_id)
    before = restream.stream_id
    changes = body.restream.changes()
    if changes.get("stream_id") is not None and changes["stream_id"] != before:
        await _check_stream(db, changes["stream_id"])
    for field, value in changes.items():
        setattr(restream, field, value)
    restream = await restreams.save(restream)
    await _restreams_changed(request, before, restream.stream_id)
    return schemas.Restream.of(restream)


@router.delete("/restreams/{restream_id}", status_code=204, response_class=Response)
async def delete_restream(restream_id: int, request: Request, db: DB) -> Response:
    restreams = RestreamRepository(db)
    restream = await restreams.require(restream_id)
    stream_id = restream.stream_id
    await restreams.delete(restream)
    await _restreams_changed(request, stream_id)
    return Response(status_code=204)
