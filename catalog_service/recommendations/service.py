"""Recommendations on catalog records: the recommender ranks, the catalog owns the records.

The recommender owns the whole fallback chain (`shared.recommendations`): whatever it answers
is shown, hydrated from the catalog database (titles, counters and averages as current as the
cached answer), without the items deleted or no longer matching the filters and, with
`exclude_seen`, those the user touched since the recommender last heard of them. The catalog's
own rules (`fallback`) are its last resort, when the recommender cannot answer at all or nothing
it listed is still shown; those answers are not cached.

Answers are the response bytes, serialised once from plain data (`cards`), cached per user and
parameters (`cache`). A
miss holds no database connection while it waits for the recommender: what comes before and
after the call each uses a short session of its own.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic_core import to_json
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog_service.epreuves import service as epreuves_service
from catalog_service.epreuves.models import Epreuve
from catalog_service.recommendations import fallback
from catalog_service.recommendations.cache import AnswerCache, item_scope
from catalog_service.recommendations.cards import filters, hydrate, seen_by
from catalog_service.recommendations.client import (
    ItemUnknown,
    RecommenderClient,
    RecommenderUnavailable,
)
from catalog_service.recommendations.schemas import RecommendationQuery
from catalog_service.users.models import User
from shared.freshness import user_scope

logger = logging.getLogger(__name__)

# Asked beyond k, so that items dropped here (deleted, seen meanwhile) rarely leave a gap.
SLACK = 5


def _json(answer: dict[str, Any]) -> bytes:
    """The answer's bytes, shaped as `RecommendationList` (tests validate them against it)."""
    return to_json(answer)


def alias_of(raw_query: str | None) -> str | None:
    return None if raw_query is None else f"q|{raw_query}"


def query_key(query: RecommendationQuery) -> str:
    parts = (query.niveau, query.filiere, query.type, (query.matiere or "").lower())
    return f"k{query.k}|x{int(query.exclude_seen)}|" + ",".join(p or "" for p in parts)


async def for_user(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    client: RecommenderClient,
    cache: AnswerCache,
    user_id: int,
    query: RecommendationQuery,
    raw_query: str | None = None,
) -> bytes:
    """`raw_query`: the request's query string, which a repeated request is matched by before
    routing (`memory_hits`)."""
    scope, key, alias = user_scope(user_id), query_key(query), alias_of(raw_query)
    found = await cache.lookup(scope, key, user_id=user_id, alias=alias)
    if found.body is not None:
        return found.body
    params: dict[str, Any] = query.model_dump(mode="json", exclude_none=True)
    params["k"] = min(query.k + SLACK, 100)
    try:
        answer = await client.user_recommendations(user_id, params=params)
    except RecommenderUnavailable as exc:
        logger.warning("recommendations for user %s from the fallback: %s", user_id, exc.reason)
        return await _popular_for(sessionmaker, user_id, query)
    async with sessionmaker() as session:
        items = await hydrate(
            session,
            answer.items,
            conditions=filters(query),
            exclude=seen_by(user_id) if query.exclude_seen else None,
        )
    if not items:  # nothing usable (no model yet and no data): popularity beats an empty page
        return await _popular_for(sessionmaker, user_id, query)
    body = _json(
        {
            "items": items[: query.k],
            "source": "recommender",
            "model_version": answer.model_version,
            "strategy": answer.fallback,
        }
    )
    await cache.store(found, scope, key, body, alias=alias)
    return body


async def _popular_for(
    sessionmaker: async_sessionmaker[AsyncSession], user_id: int, query: RecommendationQuery
) -> bytes:
    async with sessionmaker() as session:
        user = await session.get(User, user_id)
        return _json(await fallback.popular_for(session=session, user=user, query=query))


async def similar_to(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    client: RecommenderClient,
    cache: AnswerCache,
    epreuve_id: int,
    k: int,
    raw_query: str | None = None,
) -> bytes:
    """404 for an épreuve that is not (or no longer) active."""
    scope, key, alias = item_scope(epreuve_id), f"k{k}", alias_of(raw_query)
    found = await cache.lookup(scope, key, user_id=None, alias=alias)
    if found.body is not None:
        return found.body
    async with sessionmaker() as session:
        epreuve = await epreuves_service.get_active(session=session, epreuve_id=epreuve_id)
    try:
        answer = await client.similar_items(epreuve_id, k=min(k + SLACK, 100))
    except (RecommenderUnavailable, ItemUnknown) as exc:
        logger.info("similar to épreuve %s from the catalog: %r", epreuve_id, exc)
        return await _content_neighbours(sessionmaker, epreuve, k)
    async with sessionmaker() as session:
        items = await hydrate(session, answer.items, exclude=Epreuve.id == epreuve_id)
    if not items:
        return await _content_neighbours(sessionmaker, epreuve, k)
    body = _json(
        {
            "items": items[:k],
            "source": "recommender",
            "model_version": answer.model_version,
            "strategy": answer.fallback,
        }
    )
    await cache.store(found, scope, key, body, alias=alias)
    return body


async def _content_neighbours(
    sessionmaker: async_sessionmaker[AsyncSession], epreuve: Epreuve, k: int
) -> bytes:
    async with sessionmaker() as session:
        return _json(await fallback.content_neighbours(session=session, epreuve=epreuve, k=k))
