"""Catalog records under a ranking: the recommender's (or the fallback's) order, each épreuve's
current card (the fields of `EpreuveRead`) with its score and reason, as plain data serialised
once by the caller: no ORM instance and no model validation per card (tests check the cards
against `EpreuveRead`).

`hydrate`, on every cache miss, is one prepared statement in driver SQL with its optional
filters as parameters: building and keying a Core statement per request was a quarter of a
miss's CPU. The cards it reads are also kept in this process's memory layer (scope `c:<id>`),
so that a ranking whose cards are all there costs only the statement that says which of them
are shown (active, matching the filters, not used by the user): the same conditions, read from
the database, never judged here. An épreuve change clears the whole layer (`AnswerCache.forget`),
an evaluation drops its épreuve's card, and other counters may lag by the layer's life
(`CARD_MEMORY_SECONDS`): the answer built from them is kept no longer than the oldest card's
read plus the answer cache's life. The catalog's fallback (`fallback`) builds its rarer
queries from `filters` and `seen_by`, the same conditions in Core (tests check both paths keep
the same épreuves).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, exists
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog_service.epreuves.models import Epreuve
from catalog_service.interactions.models import Interaction
from catalog_service.recommendations.schemas import RecommendationQuery
from shared.database import driver_fetch
from shared.nearcache import NearCache
from shared.recommendations import RecommendedItem

Card = dict[str, Any]


def card(row: Any, score: float, reason: str) -> Card:
    """`row`: the card's columns by name (a driver record, or a Core row's `_mapping`)."""
    return {
        "id": row["id"],
        "title": row["title"],
        "matiere": row["matiere"],
        "filiere": row["filiere"],
        "niveau": row["niveau"],
        "type": row["type"],
        "annee": row["annee"],
        "description": row["description"],
        "teacher": {"id": row["teacher_id"], "full_name": row["teacher_full_name"]},
        "has_file": row["file_path"] is not None,
        "file_size": row["file_size"],
        "views": row["views"],
        "downloads": row["downloads"],
        "avg_difficulty": row["avg_difficulty"],
        "avg_relevance": row["avg_relevance"],
        "evaluations": row["evaluations"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
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


# A card's time in memory: its counters and averages may lag by as much (an evaluation's own
# épreuve and any épreuve change are dropped at once).
CARD_MEMORY_SECONDS = 60.0
CARD_KEY = "card"


def card_scope(epreuve_id: int) -> str:
    return f"c:{epreuve_id}"


# Whether a listed épreuve is shown: other than $2, matching the filters $3..$6, not used by $7.
_SHOWN_IF = """e.id <> $2::bigint
  AND ($3::text IS NULL OR e.niveau = $3) AND ($4::text IS NULL OR e.filiere = $4)
  AND ($5::text IS NULL OR e.type = $5) AND ($6::text IS NULL OR e.matiere ILIKE $6)
  AND ($7::bigint IS NULL OR NOT EXISTS (
      SELECT FROM catalog.interaction AS i WHERE i.user_id = $7 AND i.epreuve_id = e.id))"""

# Every active card of the ranking $1 (the columns of `epreuves.service.active_cards`, which
# `card` reads), each with whether it is shown. Both statements are built from constants only.
_HYDRATE = f"""
SELECT e.id, e.title, e.matiere, e.filiere, e.niveau, e.type, e.annee, e.description,
       e.file_path, e.file_size, e.views, e.downloads, e.avg_difficulty, e.avg_relevance,
       e.evaluations, e.created_at, e.updated_at, u.id AS teacher_id,
       u.full_name AS teacher_full_name, ({_SHOWN_IF}) AS shown
FROM catalog.epreuve AS e JOIN catalog."user" AS u ON u.id = e.teacher_id
WHERE e.is_active AND e.id = ANY($1::bigint[])"""  # noqa: S608

# Which of the ranking $1 are shown, when their cards are all in memory.
_SHOWN = f"""
SELECT e.id FROM catalog.epreuve AS e
WHERE e.is_active AND e.id = ANY($1::bigint[]) AND {_SHOWN_IF}"""  # noqa: S608


@dataclass(frozen=True)
class Hydrated:
    cards: list[Card]
    read_at: float  # when the oldest of them was read from the database (epoch seconds)


async def hydrate(
    engine: AsyncEngine,
    memory: NearCache,
    ranked: Sequence[RecommendedItem],
    *,
    query: RecommendationQuery | None = None,
    unseen_by: int | None = None,
    besides: int | None = None,
) -> Hydrated:
    """The ranked items that are still active and pass the `query`'s filters, not used by
    `unseen_by` and other than `besides` (a similar list's own épreuve), in the ranking's order,
    as current catalog cards, read in one statement on a connection of its own (no
    transaction: one read)."""
    wanted = (query.niveau, query.filiere, query.type, query.matiere) if query else (None,) * 4
    ids = [item.item_id for item in ranked]
    args = (
        ids,
        -1 if besides is None else besides,
        *(None if value is None else str(value) for value in wanted),
        unseen_by,
    )
    mark, now = memory.mark(), time.time()  # before the read: a card changed since is not kept
    if not ids:
        return Hydrated([], now)
    known: dict[int, tuple[float, Card]] = {}
    for epreuve_id in ids:
        entry = memory.get(card_scope(epreuve_id), CARD_KEY)
        if entry is None:
            break
        known[epreuve_id] = entry
    if len(known) == len(ids):
        shown = {row[0] for row in await driver_fetch(engine, _SHOWN, args)}
    else:
        rows = await driver_fetch(engine, _HYDRATE, args)
        shown = {row["id"] for row in rows if row["shown"]}
        expires = now + CARD_MEMORY_SECONDS
        for row in rows:
            known[row["id"]] = entry = (now, card(row, 0.0, ""))
            memory.put(card_scope(row["id"]), CARD_KEY, entry, mark=mark, expires_at=expires)
    cards = [
        {**known[i.item_id][1], "score": i.score, "reason": i.reason}
        for i in ranked
        if i.item_id in shown
    ]
    read_at = min((known[i][0] for i in shown), default=now)
    return Hydrated(cards, read_at)
