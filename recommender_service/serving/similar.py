"""Épreuves similar to one épreuve: cosine similarity of the learned item embeddings, or
content-based neighbours when the model does not know the item."""

from __future__ import annotations

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from recommender_service.errors import NotFound
from recommender_service.readmodel.models import Item
from recommender_service.serving import fallback
from recommender_service.serving.fallback import Scored
from recommender_service.serving.holder import ActiveModel
from recommender_service.serving.items import ItemFilters, eligible_item_ids
from recommender_service.serving.recommend import Ranked


async def similar(
    *,
    session: AsyncSession,
    active: ActiveModel | None,
    item_id: int,
    k: int,
    half_life_days: float,
) -> Ranked:
    item = await session.get(Item, item_id)
    if active is not None and item_id in active.known_items:
        eligible = await eligible_item_ids(session=session, filters=ItemFilters())
        candidates = eligible[(eligible != item_id) & np.isin(eligible, active.model.item_ids)]
        pairs = active.model.similar_items(item_id, k, candidates=candidates)
        items = [
            Scored(int(other), float(sim), "students who used {anchor} also used this", item_id)
            for other, sim in pairs
        ]
        return Ranked(items, active.version_id, None)
    if item is None:
        raise NotFound(f"item {item_id} not found")
    items = await fallback.content_neighbours(
        session=session, item=item, k=k, half_life_days=half_life_days
    )
    return Ranked(items, active.version_id if active else None, "content")
