"""Catalog records under a ranking: the recommender's (or the fallback's) order, each épreuve's
current card (the fields of `EpreuveRead`) with its score and reason, as plain data read from
one Core SELECT (`epreuves.service.active_cards`) and serialised once by the caller: no ORM
instance and no model validation per card (tests check the cards against `EpreuveRead`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, exists
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_service.epreuves.models import Epreuve
from catalog_service.epreuves.service import active_cards
from catalog_service.interactions.models import Interaction
from catalog_service.recommendations.schemas import RecommendationQuery
from shared.recommendations import RecommendedItem

Card = dict[str, Any]


def card(row: Any, score: float, reason: str) -> Card:
    return {
        "id": row.id,
        "title": row.title,
        "matiere": row.matiere,
        "filiere": row.filiere,
        "niveau": row.niveau,
        "type": row.type,
        "annee": row.annee,
        "description": row.description,
        "teacher": {"id": row.teacher_id, "full_name": row.teacher_full_name},
        "has_file": row.file_path is not None,
        "file_size": row.file_size,
        "views": row.views,
        "downloads": row.downloads,
        "avg_difficulty": row.avg_difficulty,
        "avg_relevance": row.avg_relevance,
        "evaluations": row.evaluations,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "score": score,
        "reason": reason,
    }


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
) -> list[Card]:
    """The ranked items that are still active and pass `conditions` (and not `exclude`), in
    the ranking's order, as current catalog cards."""
    ids = [item.item_id for item in ranked]
    statement = active_cards().where(Epreuve.id.in_(ids), *conditions)
    if exclude is not None:
        statement = statement.where(~exclude)
    rows = {row.id: row for row in await session.execute(statement)}
    return [card(rows[i.item_id], i.score, i.reason) for i in ranked if i.item_id in rows]
