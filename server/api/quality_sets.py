"""Quality sets (ABR ladders): the built-in ones and which is the account default."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from server.api import schemas
from server.api.deps import DB, Authorized
from server.db.quality_sets import KINDS, QualitySetRepository
from server.errors import ERROR_RESPONSES, invalid_field

router = APIRouter(tags=["quality sets"], dependencies=[Authorized], responses=ERROR_RESPONSES)


class DefaultChoice(BaseModel):
    id: int | None = None  # null: back to the built-in default


class DefaultChoices(BaseModel):
    live: DefaultChoice | None = None
    vod: DefaultChoice | None = None


@router.get("/quality_sets", response_model=schemas.QualitySets)
async def list_quality_sets(db: DB) -> schemas.QualitySets:
    return schemas.QualitySets.of(await QualitySetRepository(db).all())


@router.put("/quality_sets/default", response_model=schemas.QualitySets)
async def set_default_quality_sets(body: DefaultChoices, db: DB) -> schemas.QualitySets:
    quality_sets = QualitySetRepository(db)
    for kind in KINDS:
        choice: DefaultChoice | None = getattr(body, kind)
        if choice is None:
            continue
        if choice.id is None:
            target = await quality_sets.built_in_default(kind)
        else:
            target = await quality_sets.get(choice.id, kind)
            if target is None:
                raise invalid_field(f"{kind}.id", f"no {kind} quality set {choice.id}")
        if target is not None:
            await quality_sets.make_default(target)
    await quality_sets.commit()
    return schemas.QualitySets.of(await quality_sets.all())
