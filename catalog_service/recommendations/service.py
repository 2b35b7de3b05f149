"""Recommendations on catalog records: the recommender's ranking, or the catalog's fallback.

The recommender ranks; the catalog owns the records. Its answer is hydrated from the catalog
database (so titles, counters and averages are current), items deleted or no longer matching
the filters since the model was trained are dropped, and, with `exclude_seen`, so are items
the user touched after the recommender's read model last heard of them. When the recommender
cannot answer (timeout, connection error, 5xx, open circuit), the catalog ranks by its own
popularity within the user's niveau and filière and says so (`source: "fallback"`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_service.epreuves.models import Epreuve
from catalog_service.epreuves.schemas import EpreuveRead
from catalog_service.epreuves.service import POPULARITY, active_epreuves
from catalog_service.interactions.models import Interaction
from catalog_service.recommendations.client import (
    ItemUnknown,
    RecommenderClient,
    RecommenderUnavailable,
)
from catalog_service.recommendations.schemas import (
    RecommendationList,
    RecommendationQuery,
    RecommendedEpreuve,
)
from catalog_service.users.models import User
from shared.recommendations import RecommendedItem

logger = logging.getLogger(__name__)

# Asked beyond k, so that items dropped here (deleted, seen meanwhile) rarely leave a gap.
SLACK = 5


def _filters(query: RecommendationQuery) -> list[ColumnElement[bool]]:
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


def _item(epreuve: Epreuve, score: float, reason: str) -> RecommendedEpreuve:
    record = EpreuveRead.model_validate(epreuve).model_dump()
    return RecommendedEpreuve(**record, score=score, reason=reason)


async def _hydrate(
    session: AsyncSession,
    ranked: Sequence[RecommendedItem],
    *,
    conditions: Sequence[ColumnElement[bool]] = (),
    exclude: ColumnElement[bool] | None = None,
) -> list[RecommendedEpreuve]:
    ids = [item.item_id for item in ranked]
    statement = active_epreuves().where(Epreuve.id.in_(ids), *conditions)
    if exclude is not None:
        statement = statement.where(~exclude)
    rows = {e.id: e for e in (await session.scalars(statement)).all()}
    return [_item(rows[i.item_id], i.score, i.reason) for i in ranked if i.item_id in rows]


def _seen_by(user: User) -> ColumnElement[bool]:
    return exists().where(Interaction.user_id == user.id, Interaction.epreuve_id == Epreuve.id)


async def for_user(
    *, session: AsyncSession, client: RecommenderClient, user: User, query: RecommendationQuery
) -> RecommendationList:
    params: dict[str, Any] = query.model_dump(mode="json", exclude_none=True)
    params["k"] = min(query.k + SLACK, 100)
    try:
        answer = await client.user_recommendations(user.id, params=params)
    except RecommenderUnavailable as exc:
        logger.warning("recommendations for user %s from the fallback: %s", user.id, exc.reason)
        return await popular_for(session=session, user=user, query=query)
    items = await _hydrate(
        session,
        answer.items,
        conditions=_filters(query),
        exclude=_seen_by(user) if query.exclude_seen else None,
    )
    if not items:  # nothing usable (no model yet and no data): popularity beats an empty page
        return await popular_for(session=session, user=user, query=query)
    return RecommendationList(
        items=items[: query.k],
        source="recommender",
        model_version=answer.model_version,
        strategy=answer.fallback,
    )


async def popular_for(
    *, session: AsyncSession, user: User, query: RecommendationQuery
) -> RecommendationList:
    """Most viewed + downloaded first, the user's niveau and filière before the rest."""
    statement = active_epreuves().where(*_filters(query))
    if query.exclude_seen:
        statement = statement.where(~_seen_by(user))
    closeness: list[Any] = []
    if user.filiere is not None:
        same_cell = and_(Epreuve.filiere == user.filiere, Epreuve.niveau == user.niveau)
        closeness = [case((same_cell, 0), (Epreuve.filiere == user.filiere, 1), else_=2)]
    statement = statement.order_by(
        *closeness, POPULARITY.desc(), Epreuve.avg_relevance.desc().nulls_last(), Epreuve.id.desc()
    ).limit(query.k)
    items = []
    for epreuve in (await session.scalars(statement)).all():
        if user.filiere is not None and epreuve.filiere == user.filiere:
            where = (
                f"{epreuve.niveau} {epreuve.filiere}"
                if epreuve.niveau == user.niveau
                else epreuve.filiere
            )
            reason = f"popular in {where}"
        else:
            reason = "popular"
        items.append(_item(epreuve, float(epreuve.views + epreuve.downloads), reason))
    return RecommendationList(
        items=items, source="fallback", model_version=None, strategy="popularity"
    )


async def similar_to(
    *, session: AsyncSession, client: RecommenderClient, epreuve: Epreuve, k: int
) -> RecommendationList:
    try:
        answer = await client.similar_items(epreuve.id, k=min(k + SLACK, 100))
    except (RecommenderUnavailable, ItemUnknown) as exc:
        logger.info("similar to épreuve %s from the catalog: %r", epreuve.id, exc)
        return await content_neighbours(session=session, epreuve=epreuve, k=k)
    items = await _hydrate(session, answer.items, exclude=Epreuve.id == epreuve.id)
    if not items:
        return await content_neighbours(session=session, epreuve=epreuve, k=k)
    return RecommendationList(
        items=items[:k],
        source="recommender",
        model_version=answer.model_version,
        strategy=answer.fallback,
    )


async def content_neighbours(
    *, session: AsyncSession, epreuve: Epreuve, k: int
) -> RecommendationList:
    """Same filière and niveau, the same matière first, then by popularity."""
    same_matiere = Epreuve.matiere == epreuve.matiere
    statement = (
        active_epreuves()
        .where(
            Epreuve.id != epreuve.id,
            Epreuve.filiere == epreuve.filiere,
            Epreuve.niveau == epreuve.niveau,
        )
        .order_by(case((same_matiere, 0), else_=1), POPULARITY.desc(), Epreuve.id.desc())
        .limit(k)
    )
    items = []
    for row in (await session.scalars(statement)).all():
        score = 1.0 if row.matiere == epreuve.matiere else 0.5
        reason = (
            f"same matière: {row.matiere}"
            if row.matiere == epreuve.matiere
            else f"also {row.niveau} {row.filiere}"
        )
        items.append(_item(row, score, reason))
    return RecommendationList(
        items=items, source="fallback", model_version=None, strategy="content"
    )
