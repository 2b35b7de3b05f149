"""Cold-start answers that need no model: popularity and content-based neighbours.

Popularity is the interactions' confidence (the training weights per kind) decayed with age
(half-life configurable), so that last term's papers outrank those of five years ago. Items of
the user's own niveau and filière come first ("popular in L2 MATH"), the rest fill up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import Float, case, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from recommender_service.ml.feedback import DEFAULT_RELEVANCE, KIND_WEIGHTS
from recommender_service.readmodel.models import Interaction, Item
from recommender_service.serving.items import ItemFilters
from shared.enums import InteractionKind


@dataclass(frozen=True)
class Scored:
    item_id: int
    score: float
    reason: str  # may hold "{anchor}", replaced by the title of the `anchor` item
    anchor: int | None = None


def _weight() -> object:
    relevance = func.coalesce(cast(Interaction.relevance, Float), DEFAULT_RELEVANCE) / 5.0
    whens = [
        (Interaction.kind == kind.value, literal(weight) * relevance)
        if kind is InteractionKind.RATE
        else (Interaction.kind == kind.value, literal(weight))
        for kind, weight in KIND_WEIGHTS.items()
    ]
    return case(*whens, else_=literal(0.0))


def _popularity_subquery(half_life_days: float):  # type: ignore[no-untyped-def]
    age_days = func.extract("epoch", func.now() - Interaction.occurred_at) / 86400.0
    decay = func.exp(-math.log(2) / half_life_days * func.greatest(age_days, 0.0))
    return (
        select(Interaction.item_id, func.sum(_weight() * decay).label("score"))
        .group_by(Interaction.item_id)
        .subquery()
    )


async def popular(
    *,
    session: AsyncSession,
    k: int,
    filters: ItemFilters,
    niveau: str | None,
    filiere: str | None,
    exclude: list[int],
    half_life_days: float,
) -> list[Scored]:
    pop = _popularity_subquery(half_life_days)
    own = (
        (Item.niveau == niveau) & (Item.filiere == filiere)
        if niveau and filiere
        else literal(False)
    )
    score = func.coalesce(pop.c.score, 0.0)
    stmt = (
        select(Item.id, score.label("score"), own.label("own"))
        .outerjoin(pop, pop.c.item_id == Item.id)
        .where(*filters.clauses())
        .order_by(own.desc(), score.desc(), Item.id.desc())
        .limit(k)
    )
    if exclude:
        stmt = stmt.where(Item.id.not_in(exclude))
    rows = await session.execute(stmt)
    return [
        Scored(
            row.id,
            float(row.score),
            f"popular in {niveau} {filiere}" if row.own else "popular with students",
        )
        for row in rows
    ]


async def content_neighbours(
    *, session: AsyncSession, item: Item, k: int, half_life_days: float
) -> list[Scored]:
    """Items sharing the matière, filière and niveau of `item` (in that order of weight)."""
    same_matiere = func.lower(Item.matiere) == item.matiere.lower()
    same_filiere = Item.filiere == item.filiere
    same_niveau = Item.niveau == item.niveau
    similarity = (
        case((same_matiere, 0.5), else_=0.0)
        + case((same_filiere, 0.3), else_=0.0)
        + case((same_niveau, 0.2), else_=0.0)
    )
    pop = _popularity_subquery(half_life_days)
    stmt = (
        select(Item.id, similarity.label("score"))
        .outerjoin(pop, pop.c.item_id == Item.id)
        .where(*ItemFilters().clauses(), Item.id != item.id, similarity > 0)
        .order_by(similarity.desc(), func.coalesce(pop.c.score, 0.0).desc(), Item.id.desc())
        .limit(k)
    )
    rows = await session.execute(stmt)
    label = f"{item.matiere}, {item.niveau} {item.filiere}"
    return [Scored(row.id, float(row.score), f"same subject area as {label}") for row in rows]
