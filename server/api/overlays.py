"""HTML overlay widgets of a stream, with Gcore's limits on size and position."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Body, Request, Response
from pydantic import BaseModel, Field, field_validator

from server.api import schemas
from server.api.column_ints import Int32
from server.api.deps import DB, Authorized, notify_media
from server.db.models import Overlay
from server.db.overlays import OverlayRepository
from server.db.streams import StreamRepository
from server.errors import ERROR_RESPONSES, invalid_field

router = APIRouter(tags=["overlays"], dependencies=[Authorized], responses=ERROR_RESPONSES)

MAX_OVERLAYS = 20
POSITION_FIELDS = ("width", "height", "x", "y")


class OverlayFields(BaseModel):
    url: str | None = None
    width: Annotated[int, Field(gt=0, le=1920)] | None = None
    height: Annotated[int, Field(gt=0, le=1080)] | None = None
    x: Annotated[int, Field(ge=0, lt=1920)] | None = None
    y: Annotated[int, Field(ge=0, lt=1080)] | None = None
    stretch: bool | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("must be an http or https URL")
        return value

    def sent(self) -> dict[str, object]:
        """Fields the client sent; null unsets a size or position, never the url or stretch."""
        sent = self.model_dump(include=self.model_fields_set)
        return {k: v for k, v in sent.items() if v is not None or k in POSITION_FIELDS}


class OverlayCreate(OverlayFields):
    url: str


class OverlayBulkChange(OverlayFields):
    id: Int32


def check_overlay(overlay: Overlay, where: str = "") -> None:
    """Stretch fills the frame, so it cannot be combined with an explicit size or position."""
    if overlay.stretch and any(getattr(overlay, f) is not None for f in POSITION_FIELDS):
        raise invalid_field(f"{where}stretch", "cannot be true together with width, height, x or y")


def apply(overlay: Overlay, changes: dict[str, object], where: str = "") -> None:
    for field, value in changes.items():
        setattr(overlay, field, value)
    check_overlay(overlay, where)


@router.post("/streams/{stream_id}/overlays", status_code=201, response_model=list[schemas.Overlay])
async def create_overlays(
    stream_id: int, request: Request, body: Annotated[list[OverlayCreate], Body()], db: DB
) -> list[schemas.Overlay]:
    stream = await StreamRepository(db).require(stream_id)
    if len(stream.overlays) + len(body) > MAX_OVERLAYS:
        raise invalid_field("body", f"a stream holds at most {MAX_OVERLAYS} overlays")
    created = []
    for index, fields in enumerate(body):
        overlay = Overlay(stream_id=stream_id, stretch=False)
        apply(overlay, fields.sent(), f"{index}.")
        created.append(overlay)
    await OverlayRepository(db).add(created)
    await notify_media(request, stream_id)
    return [schemas.Overlay.of(o) for o in created]


@router.get("/streams/{stream_id}/overlays", response_model=list[schemas.Overlay])
async def list_overlays(stream_id: int, db: DB) -> list[schemas.Overlay]:
    stream = await StreamRepository(db).require(stream_id)
    return [schemas.Overlay.of(o) for o in stream.overlays]


@router.patch("/streams/{stream_id}/overlays", response_model=list[schemas.Overlay])
async def update_overlays(
    stream_id: int, request: Request, body: Annotated[list[OverlayBulkChange], Body()], db: DB
) -> list[schemas.Overlay]:
    await StreamRepository(db).require(stream_id)
    overlays = OverlayRepository(db)
    changed = []
    for index, change in enumerate(body):
        overlay = await overlays.require(stream_id, change.id)
        apply(overlay, {k: v for k, v in change.sent().items() if k != "id"}, f"{index}.")
        changed.append(overlay)
    await overlays.save(changed)
    await notify_media(request, stream_id)
    return [schemas.Overlay.of(o) for o in changed]


@router.get("/streams/{stream_id}/overlays/{overlay_id}", response_model=schemas.Overlay)
async def get_overlay(stream_id: int, overlay_id: int, db: DB) -> schemas.Overlay:
    await StreamRepository(db).require(stream_id)
    return schemas.Overlay.of(await OverlayRepository(db).require(stream_id, overlay_id))


@router.patch("/streams/{stream_id}/overlays/{overlay_id}", response_model=schemas.Overlay)
async def update_overlay(
    stream_id: int, overlay_id: int, body: OverlayFields, request: Request, db: DB
) -> schemas.Overlay:
    await StreamRepository(db).require(stream_id)
    overlays = OverlayRepository(db)
    overlay = await overlays.require(stream_id, overlay_id)
    apply(overlay, body.sent())
    await overlays.save([overlay])
    await notify_media(request, stream_id)
    return schemas.Overlay.of(overlay)


@router.delete("/streams/{stream_id}/overlays/{overlay_id}", status_code=204, response_class=Response)
async def delete_overlay(stream_id: int, overlay_id: int, request: Request, db: DB) -> Response:
    await StreamRepository(db).require(stream_id)
    overlays = OverlayRepository(db)
    await overlays.delete(await overlays.require(stream_id, overlay_id))
    await notify_media(request, stream_id)
    return Response(status_code=204)
