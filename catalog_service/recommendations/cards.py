"""Catalog records under a ranking: the recommender's (or the fallback's) order, each épreuve's
current card (`EpreuveRead`) with its score and reason, validated once from the row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, exists
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_service.epreuves.models import Epreuve
from catalog_service.epreuves.service import active_epreuves
from catalog_service.interactions.models import Interaction
from catalog_service.recommendations.schemas import RecommendationQuery, RecommendedEpreuve
from shared.recommendations import RecommendedItem


class Card:
    """An épreuve row seen with a score and a reason, for `from_attributes` validation."""

    __slots__ = ("_epreuve", "reason", "score")

    def __init__(self, epreuve: Epreuve, score: float, reason: str) -> None:
        self._epreuve, self.score, self.reason = epreuve, score, reason

    def __getattr__(self, name: str) -> Any:
        return getattr(self._epreuve, name)

    @classmethod
    def of(cls, epreuve: Epreuve, score: float, reason: str) -> RecommendedEpreuve:
        return RecommendedEpreuve.model_validate(cls(epreuve, score, reason), from_attributes=True)


def filters(query: RecommendationQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.niveau is not None:
        conditions.append(Epreuve.niveau == query.niveau)
    if query.filiere is not None:
        conditions.append(Epreuve.filiere == query.filiere)
    if query.type is not None:
        conditions.append(Epreuve.type == query.type)
    if query.matiere is not None:
        conditions.append(Epreuve.matiere.ilike(query.matiere))
    return conditions


def seen_by(user_id: int) -> ColumnElement[bool]:
    return exists().where(Interaction.user_id == user_id, Interaction.epreuve_id == Epreuve.id)


async def hydrate(
    session: AsyncSession,
    ranked: Sequence[RecommendedItem],
    *,
    conditions: Sequence[ColumnElement[bool]] = (),
    exclude: ColumnElement[bool] | None = None,
) -> list[RecommendedEpreuve]:
    """The ranked items that are still active and pass `conditions` (and not `exclude`), in
    the ranking's order, as current catalog cards."""
    ids = [item.item_id for item in ranked]
    statement = active_epreuves().where(Epreuve.id.in_(ids), *conditions)
    if exclude is not None:
        statement = statement.where(~exclude)
    rows = {e.id: e for e in (await session.scalars(statement)).all()}
    return [Card.of(rows[i.item_id], i.score, i.reason) for i in ranked if i.item_id in rows]
