"""Page-numbered lists, as the Gcore API pages them: `?page=N`, total in `X-Total-Count`."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Query, Response
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

DEFAULT_PER_PAGE = 25
TOTAL_HEADER = "X-Total-Count"


@dataclass(frozen=True)
class Page:
    page: int
    per_page: int


def page_params(
    page: int = Query(1, ge=1, description="Page number, from 1"),
    per_page: int = Query(DEFAULT_PER_PAGE, ge=1, le=1000, description="Items per page"),
) -> Page:
    return Page(page, per_page)


async def fetch_page(session: AsyncSession, query: Select, page: Page, response: Response) -> list:
    """Run `query` for one page and put the total number of rows in the response header."""
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    response.headers[TOTAL_HEADER] = str(total or 0)
    rows = await session.scalars(query.offset((page.page - 1) * page.per_page).limit(page.per_page))
    return list(rows)
