"""One page of a query, with the total number of rows (the API puts it in `X-Total-Count`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

Row = TypeVar("Row")


@dataclass(frozen=True)
class Page:
    number: int  # from 1
    size: int


@dataclass(frozen=True)
class PageOf(Generic[Row]):
    rows: list[Row]
    total: int


async def fetch_page(db: AsyncSession, query: Select[Any], page: Page) -> PageOf[Any]:
    total = await db.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = await db.scalars(query.offset((page.number - 1) * page.size).limit(page.size))
    return PageOf(list(rows), total or 0)
