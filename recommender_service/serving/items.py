"""Read-model queries that serving needs: eligible items, item cards, a user's history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from recommender_service.readmodel.models import Interaction, Item


@dataclass(frozen=True)
class ItemFilters:
    niveau: str | None = None
    filiere: str | None = None
    type: str | None = None
    matiere: str | None = None

    def clauses(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = [Item.is_active.is_(True)]
        if self.niveau:
            where.append(Item.niveau == self.niveau)
        if self.filiere:
            where.append(Item.filiere == self.filiere)
        if self.type:
            where.append(Item.type == self.type)
        if self.matiere:
            where.append(func.lower(Item.matiere) == self.matiere.lower())
        return where

    def cache_key(self) -> str:
        parts = (self.niveau, self.filiere, self.type, (self.matiere or "").lower())
        return ",".join(p or "" for p in parts)


@dataclass(frozen=True)
class ItemCard:
    id: int
    title: str
    matiere: str
    filiere: str
    niveau: str
    type: str
    annee: int


@dataclass(frozen=True)
class HistoryEntry:
    item_id: int
    kind: str
    occurred_at: datetime
    ingested_at: datetime


async def eligible_item_ids(*, session: AsyncSession, filters: ItemFilters) -> np.ndarray:
    """Ids of active items passing the filters (the mask that serving applies to the scores)."""
    rows = await session.scalars(select(Item.id).where(*filters.clauses()))
    return np.fromiter(rows, dtype=np.int64)


async def item_cards(*, session: AsyncSession, item_ids: list[int]) -> dict[int, ItemCard]:
    if not item_ids:
        return {}
    rows = await session.execute(_card_select().where(Item.id.in_(item_ids)))
    return {row.id: ItemCard(*row) for row in rows}


def _card_select() -> Select:
    return select(
        Item.id, Item.title, Item.matiere, Item.filiere, Item.niveau, Item.type, Item.annee
    )


@dataclass(frozen=True)
class UserActivity:
    history: list[HistoryEntry]  # latest interaction per item, most recent first
    seen: np.ndarray  # every item the user has interacted with


async def user_activity(*, session: AsyncSession, user_id: int) -> UserActivity:
    """One indexed query, (user_id, occurred_at): a user's items, latest first."""
    rows = await session.execute(
        select(
            Interaction.item_id,
            Interaction.kind,
            Interaction.occurred_at,
            Interaction.ingested_at,
        )
        .where(Interaction.user_id == user_id)
        .order_by(Interaction.occurred_at.desc())
    )
    latest: dict[int, HistoryEntry] = {}
    for row in rows:
        if row.item_id not in latest:
            latest[row.item_id] = HistoryEntry(*row)
    return UserActivity(list(latest.values()), np.fromiter(latest, dtype=np.int64))
