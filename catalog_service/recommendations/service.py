"""Recommendations on catalog records: the recommender ranks, the catalog owns the records.

The recommender owns the whole fallback chain (`shared.recommendations`): whatever it answers
is shown, hydrated from the catalog database (titles, counters and averages as current as the
cached answer), without the items deleted or no longer matching the filters and, with
`exclude_seen`, those the user touched since the recommender last heard of them. The catalog's
own rules (`fallback`) are its last resort, when the recommender cannot answer at all or nothing
it listed is still shown; those answers are not cached.

Answers are the response bytes, serialised once from plain data (`cards`), cached per user and
parameters (`cache`) with what they show (`impressions.lists`): every answer, cached or not,
leaves with a fresh `recommendation_id` and is recorded as an impression, with no database
round trip on the way. A miss holds no database connection while it waits for the
recommender: what comes before and after the call each uses a short session (or connection)
of its own.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic_core import to_json
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from catalog_service.epreuves import service as epreuves_service
from catalog_service.epreuves.models import Epreuve
from catalog_service.impressions.lists import Listed, serve
from catalog_service.impressions.log import ImpressionLog
from catalog_service.impressions.shown import Shown
from catalog_service.recommendations import fallback
from catalog_service.recommendations.cache import AnswerCache, item_scope
from catalog_service.recommendations.cards import Card, hydrate
from catalog_service.recommendations.client import (
    ItemUnknown,
    RecommenderClient,
    RecommenderUnavailable,
)
from catalog_service.recommendations.schemas import RecommendationQuery
from catalog_service.users.models import User
from shared.enums import Arm, Surface
from shared.events import ListSource
from shared.freshness import user_scope

logger = logging.getLogger(__name__)

# Asked beyond k, so that items dropped here (deleted, seen meanwhile) rarely leave a gap.
SLACK = 5


def listed(
    items: list[Card],
    *,
    surface: Surface,
    source: ListSource,
    model_version: int | None,
    strategy: str | None,
    arm: Arm | None = None,
    experiment_id: int | None = None,
    anchor_id: int | None = None,
) -> Listed:
    """The answer's bytes, shaped as `RecommendationList` less its `recommendation_id` (tests
    validate them against it), with what it shows."""
    for position, item in enumerate(items, 1):
        item["position"] = position
    strategy = None if strategy is None else str(strategy)
    body = to_json({
        "items": items, "source": source, "model_version": model_version, "strategy": strategy,
        "arm": arm, "experiment_id": experiment_id,
    })  # fmt: skip
    ids = tuple(int(item["id"]) for item in items)
    shown = Shown(surface, ids, source, model_version, strategy, arm, experiment_id, anchor_id)
    return Listed(body, shown)


def _fallback(answer: dict[str, Any], surface: Surface, anchor_id: int | None = None) -> Listed:
    return listed(
        answer["items"], surface=surface, source="fallback", model_version=None,
        strategy=answer["strategy"], anchor_id=anchor_id,
    )  # fmt: skip


def alias_of(raw_query: str | None) -> str | None:
    return None if raw_query is None else f"q|{raw_query}"


def query_key(query: RecommendationQuery, diversity: float) -> str:
    parts = (query.niveau, query.filiere, query.type, (query.matiere or "").lower())
    head = f"k{query.k}|x{int(query.exclude_seen)}|d{diversity:g}|"
    return head + ",".join(p or "" for p in parts)


async def for_user(
    *,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    client: RecommenderClient,
    cache: AnswerCache,
    impressions: ImpressionLog,
    user_id: int,
    query: RecommendationQuery,
    default_diversity: float = 0.0,
    raw_query: str | None = None,
) -> bytes:
    """`raw_query`: the request's query string, which a repeated request is matched by before
    routing (`memory_hits`). `default_diversity`: for a query that sets none."""
    diversity = default_diversity if query.diversity is None else query.diversity
    scope, key, alias = user_scope(user_id), query_key(query, diversity), alias_of(raw_query)
    found = await cache.lookup(scope, key, user_id=user_id, alias=alias)
    if found.listed is not None:
        return serve(impressions, found.listed, user_id=user_id)
    params: dict[str, Any] = query.model_dump(mode="json", exclude_none=True)
    params["k"] = min(query.k + SLACK, 100)
    params["diversity"] = diversity
    try:
        answer = await client.user_recommendations(user_id, params=params)
    except RecommenderUnavailable as exc:
        logger.warning("recommendations for user %s from the fallback: %s", user_id, exc.reason)
        fallen = await _popular_for(sessionmaker, user_id, query)
        return serve(impressions, fallen, user_id=user_id)
    unseen_by = user_id if query.exclude_seen else None
    hydrated = await hydrate(engine, cache.memory, answer.items, query=query, unseen_by=unseen_by)
    items = hydrated.cards
    if not items:  # nothing usable (no model yet and no data): popularity beats an empty page
        fallen = await _popular_for(sessionmaker, user_id, query)
        return serve(impressions, fallen, user_id=user_id)
    answered = listed(
        items[: query.k], surface=Surface.RECOMMENDATIONS, source="recommender",
        model_version=answer.model_version, strategy=answer.fallback, arm=answer.arm,
        experiment_id=answer.experiment_id,
    )  # fmt: skip
    await cache.store(found, scope, key, answered, alias=alias, read_at=hydrated.read_at)
    return serve(impressions, answered, user_id=user_id)


async def _popular_for(
    sessionmaker: async_sessionmaker[AsyncSession], user_id: int, query: RecommendationQuery
) -> Listed:
    async with sessionmaker() as session:
        user = await session.get(User, user_id)
        answer = await fallback.popular_for(session=session, user=user, query=query)
    return _fallback(answer, Surface.RECOMMENDATIONS)


async def similar_to(
    *,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    client: RecommenderClient,
    cache: AnswerCache,
    impressions: ImpressionLog,
    user_id: int,
    epreuve_id: int,
    k: int,
    diversity: float = 0.0,
    raw_query: str | None = None,
) -> bytes:
    """404 for an épreuve that is not (or no longer) active. `user_id`: who is shown it."""
    scope, key, alias = item_scope(epreuve_id), f"k{k}|d{diversity:g}", alias_of(raw_query)
    found = await cache.lookup(scope, key, user_id=None, alias=alias)
    if found.listed is not None:
        return serve(impressions, found.listed, user_id=user_id)
    async with sessionmaker() as session:
        epreuve = await epreuves_service.get_active(session=session, epreuve_id=epreuve_id)
    try:
        answer = await client.similar_items(epreuve_id, k=min(k + SLACK, 100), diversity=diversity)
    except (RecommenderUnavailable, ItemUnknown) as exc:
        logger.info("similar to épreuve %s from the catalog: %r", epreuve_id, exc)
        fallen = await _content_neighbours(sessionmaker, epreuve, k)
        return serve(impressions, fallen, user_id=user_id)
    hydrated = await hydrate(engine, cache.memory, answer.items, besides=epreuve_id)
    items = hydrated.cards
    if not items:
        fallen = await _content_neighbours(sessionmaker, epreuve, k)
        return serve(impressions, fallen, user_id=user_id)
    answered = listed(
        items[:k], surface=Surface.SIMILAR, source="recommender",
        model_version=answer.model_version, strategy=answer.fallback, anchor_id=epreuve_id,
    )  # fmt: skip
    await cache.store(found, scope, key, answered, alias=alias, read_at=hydrated.read_at)
    return serve(impressions, answered, user_id=user_id)


async def _content_neighbours(
    sessionmaker: async_sessionmaker[AsyncSession], epreuve: Epreuve, k: int
) -> Listed:
    async with sessionmaker() as session:
        answer = await fallback.content_neighbours(session=session, epreuve=epreuve, k=k)
    return _fallback(answer, Surface.SIMILAR, anchor_id=epreuve.id)
