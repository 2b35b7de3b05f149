"""The catalog's own last resort, when the recommender cannot answer at all (timeout, connection
error, 5xx, open circuit) or nothing it listed is still shown here: plain rules on the catalog's
own counters, answered as `source: "fallback"`. Every cold-start decision otherwise belongs to
the recommender (`shared.recommendations`), which answers `source: "recommender"` even when its
own chain fell back.

- for a user: the most viewed + downloaded épreuves, their niveau and filière first, then their
  filière, then the rest (`strategy: "popularity"`);
- for an épreuve: the same filière and niveau, the same matière first, then by popularity
  (`strategy: "content"`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, case
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_service.epreuves.models import Epreuve
from catalog_service.epreuves.service import POPULARITY, active_cards
from catalog_service.recommendations.cards import Card, card, filters, seen_by
from catalog_service.recommendations.schemas import RecommendationQuery
from catalog_service.users.models import User
from shared.recommendations import Strategy

Answer = dict[str, Any]


def _answer(items: list[Card], strategy: Strategy) -> Answer:
    return {"items": items, "source": "fallback", "model_version": None, "strategy": strategy}


async def popular_for(
    *, session: AsyncSession, user: User | None, query: RecommendationQuery
) -> Answer:
    statement = active_cards().where(*filters(query))
    if query.exclude_seen and user is not None:
        statement = statement.where(~seen_by(user.id))
    closeness: list[Any] = []
    if user is not None and user.filiere is not None:
        same_cell = and_(Epreuve.filiere == user.filiere, Epreuve.niveau == user.niveau)
        closeness = [case((same_cell, 0), (Epreuve.filiere == user.filiere, 1), else_=2)]
    statement = statement.order_by(
        *closeness, POPULARITY.desc(), Epreuve.avg_relevance.desc().nulls_last(), Epreuve.id.desc()
    ).limit(query.k)
    rows = list(await session.execute(statement))
    top = max((row.views + row.downloads for row in rows), default=0)
    items = []
    for row in rows:
        reason = "popular"
        if user is not None and user.filiere is not None and row.filiere == user.filiere:
            where = f"{row.niveau} {row.filiere}" if row.niveau == user.niveau else row.filiere
            reason = f"popular in {where}"
        # 0–1 like every score shown: use relative to the most used paper of the list.
        items.append(card(row._mapping, (row.views + row.downloads) / top if top else 0.0, reason))
    return _answer(items, Strategy.POPULARITY)


async def content_neighbours(*, session: AsyncSession, epreuve: Epreuve, k: int) -> Answer:
    same_matiere: ColumnElement[bool] = Epreuve.matiere == epreuve.matiere
    statement = (
        active_cards()
        .where(
            Epreuve.id != epreuve.id,
            Epreuve.filiere == epreuve.filiere,
            Epreuve.niveau == epreuve.niveau,
        )
        .order_by(case((same_matiere, 0), else_=1), POPULARITY.desc(), Epreuve.id.desc())
        .limit(k)
    )
    items = []
    for row in await session.execute(statement):
        if row.matiere == epreuve.matiere:
            items.append(card(row._mapping, 1.0, f"same matière: {row.matiere}"))
        else:
            items.append(card(row._mapping, 0.5, f"also {row.niveau} {row.filiere}"))
    return _answer(items, Strategy.CONTENT)
