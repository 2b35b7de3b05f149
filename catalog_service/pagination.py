"""Paginated lists: `{"items": [...], "total": N, "limit": L, "offset": O}` (DESIGN §7)."""

from collections.abc import Sequence
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

T = TypeVar("T")

MAX_LIMIT = 100
MAX_OFFSET = 100_000


class PageParams(BaseModel):
    limit: int = 20
    offset: int = 0


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int

    @classmethod
    def of(cls, items: Sequence[T], total: int, params: PageParams) -> "Page[T]":
        """`Page[ItemRead].of(items, total, page)`: the page as the query asked for it."""
        return cls(items=list(items), total=total, limit=params.limit, offset=params.offset)


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]
