"""What the API calls: cached recommendations and similar items, with item cards and reasons."""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Histogram
from sqlalchemy.ext.asyncio import AsyncSession

from recommender_service.config import Settings
from recommender_service.serving import recommend as recommend_mod
from recommender_service.serving.cache import ResultCache
from recommender_service.serving.holder import ActiveModel, ModelHolder
from recommender_service.serving.items import ItemFilters, item_cards
from recommender_service.serving.recommend import Ranked
from recommender_service.serving.similar import similar

LATENCY = Histogram(
    "recommender_serving_seconds",
    "Time to answer a serving request (cache included)",
    ["endpoint", "cached"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)


@dataclass
class Serving:
    """The serving state of one replica: model holder, cache, settings, counters."""

    holder: ModelHolder
    cache: ResultCache
    settings: Settings
    served: Tally[str] = field(default_factory=Tally)


async def recommendations(
    *,
    session: AsyncSession,
    serving: Serving,
    user_id: int,
    k: int,
    exclude_seen: bool,
    filters: ItemFilters,
) -> dict[str, Any]:
    active = serving.holder.current

    async def rank() -> Ranked:
        ranked, _history = await recommend_mod.recommend(
            session=session,
            active=active,
            user_id=user_id,
            k=k,
            exclude_seen=exclude_seen,
            filters=filters,
            half_life_days=serving.settings.popularity_half_life_days,
        )
        return ranked

    return await _cached_answer(
        session=session,
        serving=serving,
        endpoint="recommendations",
        scope=serving.cache.user_scope(user_id),
        key=f"v{_version(active)}|k{k}|x{int(exclude_seen)}|{filters.cache_key()}",
        head={"user_id": user_id},
        rank=rank,
    )


async def similar_items(
    *, session: AsyncSession, serving: Serving, item_id: int, k: int
) -> dict[str, Any]:
    active = serving.holder.current

    async def rank() -> Ranked:
        return await similar(
            session=session,
            active=active,
            item_id=item_id,
            k=k,
            half_life_days=serving.settings.popularity_half_life_days,
        )

    return await _cached_answer(
        session=session,
        serving=serving,
        endpoint="similar",
        scope=serving.cache.item_scope(item_id),
        key=f"v{_version(active)}|k{k}",
        head={"item_id": item_id},
        rank=rank,
    )


def _version(active: ActiveModel | None) -> int | str:
    # Part of every cache key: a new model version never serves the old one's answers.
    return active.version_id if active else "none"


async def _cached_answer(
    *,
    session: AsyncSession,
    serving: Serving,
    endpoint: str,
    scope: str,
    key: str,
    head: dict[str, Any],
    rank: Callable[[], Awaitable[Ranked]],
) -> dict[str, Any]:
    """The cached body under (scope, key), else `head` + the ranked cards (then cached).

    Counted per fallback and timed per hit/miss, like every serving answer.
    """
    started = time.perf_counter()
    cached, generation = await serving.cache.get(scope, key)
    if cached is None:
        ranked = await rank()
        cached = {**head, **await _body(session, ranked)}
        await serving.cache.put(scope, key, generation, cached, ttl_seconds=_ttl(serving, ranked))
        hit = False
    else:
        hit = True
    serving.served[f"{endpoint}:{cached['fallback'] or 'model'}"] += 1
    LATENCY.labels(endpoint, str(hit).lower()).observe(time.perf_counter() - started)
    return {**cached, "cached": hit}


def _ttl(serving: Serving, ranked: Ranked) -> int:
    # Fallback answers follow the read model (popularity moves): a short life.
    if ranked.fallback in ("popularity", "content"):
        return serving.settings.fallback_cache_ttl_seconds
    return serving.settings.cache_ttl_seconds


async def _body(session: AsyncSession, ranked: Ranked) -> dict[str, Any]:
    ids = [s.item_id for s in ranked.items] + [s.anchor for s in ranked.items if s.anchor]
    cards = await item_cards(session=session, item_ids=sorted(set(ids)))
    items = []
    for scored in ranked.items:
        card = cards.get(scored.item_id)
        anchor = cards.get(scored.anchor) if scored.anchor else None
        anchor_title = anchor.title if anchor else f"#{scored.anchor}"
        items.append(
            {
                "item_id": scored.item_id,
                "score": round(scored.score, 6),
                "reason": scored.reason.replace("{anchor}", anchor_title),
                "title": card.title if card else None,
                "matiere": card.matiere if card else None,
                "filiere": card.filiere if card else None,
                "niveau": card.niveau if card else None,
                "type": card.type if card else None,
                "annee": card.annee if card else None,
            }
        )
    return {"model_version": ranked.model_version, "fallback": ranked.fallback, "items": items}
