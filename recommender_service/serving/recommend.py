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
from recommender_service.serving.featured import featured_scores
from recommender_service.serving.history import HistoryEntry, UserActivity
from recommender_service.serving.holder import ActiveModel
from recommender_service.serving.items import ItemFilters, ItemTable
from recommender_service.serving.reasons import because, explain
from recommender_service.serving.rerank import Rotation, attribute_vectors, pool_size, rerank
from shared.recommendations import Strategy

RECENT_FOR_COLD_START = 5
_OFF = Rotation(after=1, factor=1.0)


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


def recommend(
    *,
    active: ActiveModel | None,
    table: ItemTable,
    activity: UserActivity,
    user_id: int,
    k: int,
    exclude_seen: bool,
    filters: ItemFilters,
    min_similarity: float,
    diversity: float = 0.0,
    rotation: Rotation = _OFF,
) -> Ranked:
    seen = activity.seen if exclude_seen else np.zeros(0, dtype=np.int64)
    order = Reorder(diversity, rotation if activity.shown else _OFF, activity)
    pool = order.pool(k)
    if active is not None:
        known = [h for h in activity.recent if h.item_id in active.known_items]
        context = _Context(k, seen, filters, known, activity, min_similarity)
        if active.model.uses_features:
            # Every paper of the table, those it never saw in training from their metadata.
            featured = featured_scores(active.model, table, user_id, activity)
            if featured is not None and (active.model.user_index(user_id) is not None or not known):
                return _personalised(
                    active, table, table.ids, table.all_rows, featured, context, order
                )
        scores = active.scores.get(user_id)
        if scores is not None:
            rows = table.model_rows(active.version_id, active.model.item_ids)
            return _personalised(active, table, active.model.item_ids, rows, scores, context, order)
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


def _unit_vectors(active: ActiveModel, ids: np.ndarray) -> np.ndarray:
    """The model's unit item vectors of `ids`; zeros for a paper it never saw (scored from its
    features), which MMR then treats as unlike every other."""
    model_ids = active.model.item_ids
    pos = np.minimum(np.searchsorted(model_ids, ids), len(model_ids) - 1)
    inside = model_ids[pos] == ids
    vectors = np.zeros((len(ids), active.unit_vectors.shape[1]), dtype=active.unit_vectors.dtype)
    vectors[inside] = active.unit_vectors[pos[inside]]
    return vectors


def _drop_sorted(mask: np.ndarray, ids: np.ndarray, drop: np.ndarray) -> None:
    """Clears `mask` where `ids` (ascending, as the table's and the model's are) is in `drop`:
    a binary search per dropped id, a quarter of `np.isin`'s cost on a list's candidates."""
    pos = np.searchsorted(ids, drop)
    inside = pos < len(ids)
    pos = pos[inside]
    mask[pos[ids[pos] == drop[inside]]] = False


def _tail(ranked: Ranked) -> tuple[int | None, Strategy | None]:
    return ranked.model_version, ranked.fallback


def _allowed(
    table: ItemTable, filters: ItemFilters, seen: np.ndarray
) -> Callable[[np.ndarray], np.ndarray]:
    def allowed(ids: np.ndarray) -> np.ndarray:
        mask = table.allows(ids, filters)
        return mask & ~np.isin(ids, seen) if len(seen) else mask

    return allowed


@dataclass(frozen=True)
class _Context:
    k: int
    seen: np.ndarray
    filters: ItemFilters
    known: list[HistoryEntry]  # the user's recent items that the model knows
    activity: UserActivity
    min_similarity: float


def _personalised(
    active: ActiveModel,
    table: ItemTable,
    item_ids: np.ndarray,
    rows: np.ndarray,
    scores: np.ndarray,
    context: _Context,
    order: Reorder,
) -> Ranked:
    """The best of `item_ids` (their `rows` in the table, -1 if absent) by `scores`, re-ranked
    as `order` asks."""
    mask = (rows >= 0) & table.eligible(context.filters)[np.maximum(rows, 0)]
    _drop_sorted(mask, item_ids, context.seen)
    raw = np.nan_to_num(np.asarray(scores, np.float64), nan=-np.inf)
    best = top_k(raw, mask, order.pool(context.k))
    vectors = _unit_vectors(active, item_ids[best])
    best = best[order.indices(item_ids[best], raw[best], vectors, context.k)]
    chosen = item_ids[best]
    known = context.known
    anchor, similarity = active.neighbours.closest(active.model, [h.item_id for h in known], chosen)
    reasons = explain(
        table, chosen, history=known, anchor=anchor, similarity=similarity,
        min_similarity=context.min_similarity, niveau=context.activity.niveau,
        filiere=context.activity.filiere,
    )  # fmt: skip
    shown = active.model.calibrated(raw[best])
    items = [
        Scored(int(item_id), float(score), reason.text, reason.anchor)
        for item_id, score, reason in zip(chosen, shown, reasons, strict=True)
    ]
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
    # Cosine similarity, shown as 0–1 (a negative one is no likeness at all).
    items = [
        Scored(i, max(sim, 0.0), because(entry).text, entry.item_id) for i, (sim, entry) in ranked
    ]
    return Ranked(items, active.version_id, Strategy.SIMILAR_TO_RECENT)
