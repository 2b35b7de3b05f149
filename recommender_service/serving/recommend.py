"""The whole fallback chain of a personalised list, in one place (the recommender owns it; the
catalog's own fallback is only its last resort when the recommender cannot answer):

1. the active model knows the user: its scores over every item, one batched pass;
2. the model does not know the user, who has fresh interactions with items it knows: the
   nearest neighbours of those items (`similar-to-recent`);
3. otherwise popularity, the user's own niveau and filière first (`popularity`).

Plain functions over what is already in memory (model, item table, the user's activity): no
I/O. Eligibility (active, filters, not yet seen) is a numpy mask and the top K comes from
`argpartition`; no Python loop over items.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from recommender_service.serving import fallback
from recommender_service.serving.fallback import Scored
from recommender_service.serving.history import HistoryEntry, UserActivity
from recommender_service.serving.holder import ActiveModel
from recommender_service.serving.items import ItemFilters, ItemTable
from shared.recommendations import Strategy

RECENT_FOR_COLD_START = 5
VERBS = {"VIEW": "viewed", "CLICK": "opened", "DOWNLOAD": "downloaded", "RATE": "rated"}


@dataclass(frozen=True)
class Ranked:
    items: list[Scored]
    model_version: int | None
    fallback: Strategy | None  # None: the personalised model answered


def top_k(scores: np.ndarray, mask: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best scores among `mask`, best first."""
    n = int(mask.sum())
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    masked = np.where(mask, scores, -np.inf)
    idx = np.argpartition(-masked, k - 1)[:k]
    return idx[np.argsort(-masked[idx], kind="stable")]


def because(entry: HistoryEntry) -> str:
    return f"because you {VERBS.get(entry.kind, 'used')} {{anchor}}"


def recommend(
    *,
    active: ActiveModel | None,
    table: ItemTable,
    activity: UserActivity,
    user_id: int,
    k: int,
    exclude_seen: bool,
    filters: ItemFilters,
) -> Ranked:
    seen = activity.seen if exclude_seen else np.zeros(0, dtype=np.int64)
    if active is not None:
        known = [h for h in activity.recent if h.item_id in active.known_items]
        scores = active.scores.get(user_id)
        if scores is not None:
            return _personalised(active, table, scores, k, seen, filters, known)
        if known:
            recent = known[:RECENT_FOR_COLD_START]
            ranked = _similar_to_recent(active, table, recent, k, seen, filters)
            if ranked.items:
                return ranked
    items = fallback.popular(
        table, k=k, filters=filters, niveau=activity.niveau, filiere=activity.filiere, exclude=seen
    )
    return Ranked(items, None, Strategy.POPULARITY)


def _allowed(
    table: ItemTable, filters: ItemFilters, seen: np.ndarray
) -> Callable[[np.ndarray], np.ndarray]:
    def allowed(ids: np.ndarray) -> np.ndarray:
        mask = table.allows(ids, filters)
        return mask & ~np.isin(ids, seen) if len(seen) else mask

    return allowed


def _personalised(
    active: ActiveModel,
    table: ItemTable,
    scores: np.ndarray,
    k: int,
    seen: np.ndarray,
    filters: ItemFilters,
    known: list[HistoryEntry],
) -> Ranked:
    item_ids = active.model.item_ids
    rows = table.model_rows(active.version_id, item_ids)
    mask = (rows >= 0) & table.eligible(filters)[np.maximum(rows, 0)]
    if len(seen):
        mask &= ~np.isin(item_ids, seen)
    best = top_k(np.asarray(scores, dtype=np.float64), mask, k)
    chosen = item_ids[best]
    anchor, similarity = active.neighbours.closest(active.model, [h.item_id for h in known], chosen)
    items = []
    for j, (index, item_id) in enumerate(zip(best, chosen, strict=True)):
        entry = known[anchor[j]] if similarity[j] > 0 else None
        items.append(
            Scored(
                int(item_id),
                float(scores[index]),
                because(entry) if entry else "recommended for you",
                entry.item_id if entry else None,
            )
        )
    return Ranked(items, active.version_id, None)


def _similar_to_recent(
    active: ActiveModel,
    table: ItemTable,
    recent: list[HistoryEntry],
    k: int,
    seen: np.ndarray,
    filters: ItemFilters,
) -> Ranked:
    """A user the model has not seen, with fresh interactions: neighbours of those items."""
    allowed = _allowed(table, filters, seen)
    best: dict[int, tuple[float, HistoryEntry]] = {}
    for entry in recent:
        for item_id, similarity in active.neighbours.top(active.model, entry.item_id, k, allowed):
            if item_id not in best or similarity > best[item_id][0]:
                best[item_id] = (similarity, entry)
    ranked = sorted(best.items(), key=lambda kv: kv[1][0], reverse=True)[:k]
    items = [Scored(i, sim, because(entry), entry.item_id) for i, (sim, entry) in ranked]
    return Ranked(items, active.version_id, Strategy.SIMILAR_TO_RECENT)
