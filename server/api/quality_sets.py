"""Quality sets (ABR ladders): the built-in ones and which is the account default."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.api.deps import Authorized, db_session
from server.api.errors import unprocessable
from server.db.models import QualitySet

router = APIRouter(tags=["quality sets"], dependencies=[Authorized])

KINDS = ("live", "vod")
SYSTEM_DEFAULT = {"live": "origin", "vod": "vod_default"}


class DefaultChoice(BaseModel):
    id: int | None = None


class DefaultChoices(BaseModel):
    live: DefaultChoice | None = None
    vod: DefaultChoice | None = None


def quality_set_out(quality_set: QualitySet) -> dict:
    return {
        "id": quality_set.id,
        "name": quality_set.name,
        "default": quality_set.is_default,
        "qualities": [
            {
                "id": q.id,
                "name": q.name,
                "width": q.width,
                "height": q.height,
                "video_bitrate": q.video_bitrate,
                "audio_bitrate": q.audio_bitrate,
                "max_frame_rate": q.max_frame_rate,
            }
            for q in quality_set.qualities
        ],
    }


async def all_sets(session: AsyncSession) -> dict:
    sets = (await session.scalars(select(QualitySet).order_by(QualitySet.id))).all()
    return {kind: [quality_set_out(s) for s in sets if s.kind == kind] for kind in KINDS}


async def make_default(session: AsyncSession, kind: str, choice: DefaultChoice) -> None:
    if choice.id is None:
        target = await session.scalar(
            select(QualitySet).where(QualitySet.kind == kind, QualitySet.name == SYSTEM_DEFAULT[kind])
        )
    else:
        target = await session.get(QualitySet, choice.id)
        if target is None or target.kind != kind:
            raise unprocessable(f"{kind}.id", f"no {kind} quality set {choice.id}")
    await session.execute(update(QualitySet).where(QualitySet.kind == kind).values(is_default=False))
    target.is_default = True


@router.get("/quality_sets")
async def list_quality_sets(session: AsyncSession = Depends(db_session)) -> dict:
    return await all_sets(session)


@router.put("/quality_sets/default")
async def set_default_quality_sets(
    body: DefaultChoices, session: AsyncSession = Depends(db_session)
) -> dict:
    for kind in KINDS:
        choice = getattr(body, kind)
        if choice is not None:
            await make_default(session, kind, choice)
    await session.commit()
    session.expire_all()
    return await all_sets(session)
