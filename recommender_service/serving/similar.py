"""Épreuves similar to one épreuve: its row of the model version's neighbour table (cosine of
the learned item vectors), or content-based neighbours when the model does not know the item."""

from __future__ import annotations

import numpy as np

from recommender_service.errors import NotFound
from recommender_service.serving import fallback
from recommender_service.serving.fallback import Scored
from recommender_service.serving.holder import ActiveModel
from recommender_service.serving.items import ItemFilters, ItemTable
from recommender_service.serving.recommend import Ranked, Reorder
from shared.recommendations import Strategy

_ANY = ItemFilters()


def similar(
    *,
    active: ActiveModel | None,
    table: ItemTable,
    item_id: int,
    k: int,
    diversity: float = 0.0,
) -> Ranked:
    """`diversity`: MMR over the nearest `pool_size` (`serving.rerank`)."""
    order = Reorder(diversity)
    if active is not None and item_id in active.known_items:

        def allowed(ids: np.ndarray) -> np.ndarray:
            return table.allows(ids, _ANY)

        pairs = active.neighbours.top(active.model, item_id, order.pool(k), allowed)
        items = [
            Scored(other, max(sim, 0.0), "students who used {anchor} also used this", item_id)
            for other, sim in pairs
        ]
        return Ranked(order.model(items, active, k), active.version_id, None)
    row = table.row(item_id)
    if row is None:
        raise NotFound(f"item {item_id} not found")
    items = fallback.content_neighbours(table, row=row, k=order.pool(k))
    version = active.version_id if active else None
    return Ranked(order.table(items, table, k), version, Strategy.CONTENT)
