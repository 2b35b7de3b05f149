"""Catalog records under a ranking: the recommender's (or the fallback's) order, each épreuve's
current card (the fields of `EpreuveRead`) with its score and reason, as plain data serialised
once by the caller: no ORM instance and no model validation per card (tests check the cards
against `EpreuveRead`).

`hydrate`, on every cache miss, is one prepared statement in driver SQL with its optional
filters as parameters: building and keying a Core statement per request was a quarter of a
miss's CPU. The catalog's fallback (`fallback`) builds its rarer queries from `filters` and
`seen_by`, the same conditions in Core (tests check both paths keep the same épreuves).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, exists
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog_service.epreuves.models import Epreuve
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


# The columns of `epreuves.service.active_cards`, which `card` reads.
_HYDRATE = """
SELECT e.id, e.title, e.matiere, e.filiere, e.niveau, e.type, e.annee, e.description,
       e.file_path, e.file_size, e.views, e.downloads, e.avg_difficulty, e.avg_relevance,
       e.evaluations, e.created_at, e.updated_at, u.id AS teacher_id,
       u.full_name AS teacher_full_name
FROM catalog.epreuve AS e JOIN catalog."user" AS u ON u.id = e.teacher_id
WHERE e.is_active AND e.id = ANY($1::bigint[]) AND e.id <> $2::bigint
  AND ($3::text IS NULL OR e.niveau = $3) AND ($4::text IS NULL OR e.filiere = $4)
  AND ($5::text IS NULL OR e.type = $5) AND ($6::text IS NULL OR e.matiere ILIKE $6)
  AND ($7::bigint IS NULL OR NOT EXISTS (
      SELECT FROM catalog.interaction AS i WHERE i.user_id = $7 AND i.epreuve_id = e.id))"""


async def hydrate(
    sessionmaker: async_sessionmaker[AsyncSession],
    ranked: Sequence[RecommendedItem],
    *,
    query: RecommendationQuery | None = None,
    unseen_by: int | None = None,
    besides: int | None = None,
) -> list[Card]:
    """The ranked items that are still active and pass the `query`'s filters, not used by
    `unseen_by` and other than `besides` (a similar list's own épreuve), in the ranking's order,
    as current catalog cards, read in a short session of its own."""
    wanted = (query.niveau, query.filiere, query.type, query.matiere) if query else (None,) * 4
    args = (
        [item.item_id for item in ranked],
        -1 if besides is None else besides,
        *(None if value is None else str(value) for value in wanted),
        unseen_by,
    )
    async with sessionmaker() as session:
        # One read: no transaction to open and roll back around it (two round trips).
        conn = await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        rows = {row.id: row for row in await conn.exec_driver_sql(_HYDRATE, args)}
    return [card(rows[i.item_id], i.score, i.reason) for i in ranked if i.item_id in rows]
