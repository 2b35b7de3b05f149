"""The whole fallback chain of a personalised list, in one place (the recommender owns it; the
catalog's own fallback is only its last resort when the recommender cannot answer):

1. the active model knows the user: its scores over every item, one batched pass;
2. the model does not know the user, who has fresh interactions with items it knows: the
   nearest neighbours of those items (`similar-to-recent`);
3. otherwise popularity, the user's own niveau and filière first (`popularity`).

Plain functions over what is already in memory (model, item table, the user's activity): no
I/O. Eligibility (active, filters, not yet seen) is a numpy mask and the top K comes from
`argpartition`; no Python loop over items. With `diversity` or rotation, a pool of the best
candidates is re-ranked down to K (`rerank`): on the model's item embeddings, or on matière
and type for popularity.
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
from recommender_service.serving.rerank import Rotation, attribute_vectors, pool_size, rerank
from shared.recommendations import Strategy

RECENT_FOR_COLD_START = 5
_OFF = Rotation(after=1, factor=1.0)
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
    diversity: float = 0.0,
    rotation: Rotation = _OFF,
) -> Ranked:
    seen = activity.seen if exclude_seen else np.zeros(0, dtype=np.int64)
    order = Reorder(diversity, rotation if activity.shown else _OFF, activity)
    pool = order.pool(k)
    if active is not None:
        known = [h for h in activity.recent if h.item_id in active.known_items]
        scores = active.scores.get(user_id)
        if scores is not None:
            return _personalised(active, table, scores, k, seen, filters, known, order)
        if known:
            recent = known[:RECENT_FOR_COLD_START]
            ranked = _similar_to_recent(active, table, recent, pool, seen, filters)
            if ranked.items:
                return Ranked(order.model(ranked.items, active, k), *_tail(ranked))
    items = fallback.popular(
        table, k=pool, filters=filters, niveau=activity.niveau, filiere=activity.filiere,
        exclude=seen,
    )  # fmt: skip
    return Ranked(order.table(items, table, k), None, Strategy.POPULARITY)


@dataclass(frozen=True)
class Reorder:
    """The re-ranking one request asks for (none: the lists as ranked)."""

    diversity: float
    rotation: Rotation = _OFF
    activity: UserActivity | None = None  # whose impressions rotation damps

    @property
    def active(self) -> bool:
        return self.diversity > 0 or self.rotation.enabled

    def pool(self, k: int) -> int:
        return pool_size(k, diversity=self.diversity, rotation=self.rotation)

    def indices(
        self, ids: np.ndarray, scores: np.ndarray, vectors: np.ndarray, k: int
    ) -> np.ndarray:
        """Positions in the candidates (best first) of the k to serve, in order."""
        if not self.active:
            return np.arange(min(k, len(ids)))
        activity, rotation = self.activity, self.rotation
        if activity is None or not rotation.enabled:
            return rerank(ids, scores, vectors, k=k, diversity=self.diversity, rotation=_OFF,
                          shown={}, engaged=())  # fmt: skip
        engaged = set(activity.seen.tolist())
        return rerank(ids, scores, vectors, k=k, diversity=self.diversity, rotation=rotation,
                      shown=activity.shown, engaged=engaged)  # fmt: skip

    def model(self, items: list[Scored], active: ActiveModel, k: int) -> list[Scored]:
        """Items the model knows, in the order of their scores."""
        if not self.active:
            return items[:k]
        ids = np.array([s.item_id for s in items], dtype=np.int64)
        vectors = active.unit_vectors[np.searchsorted(active.model.item_ids, ids)]
        scores = np.array([s.score for s in items])
        return [items[j] for j in self.indices(ids, scores, vectors, k)]

    def table(self, items: list[Scored], table: ItemTable, k: int) -> list[Scored]:
        """Items in a ranked order of their own (popularity, its own cell first): relevance
        follows their rank; similarity is the share of matière and type in common."""
        if not self.active or not items:
            return items[:k]
        ids = np.array([s.item_id for s in items], dtype=np.int64)
        rows = table.rows_of(ids)
        vectors = attribute_vectors(table.matiere[rows].tolist(), table.type[rows].tolist())
        by_rank = -np.arange(len(items), dtype=np.float64)
        return [items[j] for j in self.indices(ids, by_rank, vectors, k)]


def _tail(ranked: Ranked) -> tuple[int | None, Strategy | None]:
    return ranked.model_version, ranked.fallback


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
    order: Reorder,
) -> Ranked:
    item_ids = active.model.item_ids
    rows = table.model_rows(active.version_id, item_ids)
    mask = (rows >= 0) & table.eligible(filters)[np.maximum(rows, 0)]
    if len(seen):
        mask &= ~np.isin(item_ids, seen)
    scores = np.asarray(scores, dtype=np.float64)
    best = top_k(scores, mask, order.pool(k))
    best = best[order.indices(item_ids[best], scores[best], active.unit_vectors[best], k)]
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
