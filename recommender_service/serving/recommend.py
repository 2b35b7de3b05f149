"""Personalised top-K for a user, from the active model or a cold-start fallback.

Scoring is one batched pass over every item (`scores_for_user`); eligibility (active, filters,
not yet seen) is a numpy mask; the top K comes from `argpartition`. No Python loop over items.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from recommender_service.readmodel.models import User
from recommender_service.serving import fallback
from recommender_service.serving.fallback import Scored
from recommender_service.serving.holder import ActiveModel
from recommender_service.serving.items import (
    HistoryEntry,
    ItemFilters,
    eligible_item_ids,
    user_activity,
)

HISTORY_FOR_REASONS = 20
RECENT_FOR_COLD_START = 5
VERBS = {"VIEW": "viewed", "CLICK": "opened", "DOWNLOAD": "downloaded", "RATE": "rated"}


@dataclass(frozen=True)
class Ranked:
    items: list[Scored]
    model_version: int | None
    fallback: str | None  # None: the personalised model answered


def top_k(scores: np.ndarray, mask: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best scores among `mask`, best first."""
    n = int(mask.sum())
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    masked = np.where(mask, scores, -np.inf)
    idx = np.argpartition(-masked, k - 1)[:k]
    return idx[np.argsort(-masked[idx], kind="stable")]


async def recommend(
    *,
    session: AsyncSession,
    active: ActiveModel | None,
    user_id: int,
    k: int,
    exclude_seen: bool,
    filters: ItemFilters,
    half_life_days: float,
) -> tuple[Ranked, list[HistoryEntry]]:
    activity = await user_activity(session=session, user_id=user_id)
    history = activity.history[:HISTORY_FOR_REASONS]
    seen = activity.seen if exclude_seen else None
    if active is not None:
        scores = active.model.scores_for_user(user_id)
        if scores is not None:
            ranked = await _personalised(session, active, scores, k, seen, filters, history)
            return ranked, history
        recent = [h for h in history if h.item_id in active.known_items][:RECENT_FOR_COLD_START]
        if recent:
            ranked = await _similar_to_recent(session, active, recent, k, seen, filters)
            if ranked.items:
                return ranked, history
    user = await session.get(User, user_id)
    items = await fallback.popular(
        session=session,
        k=k,
        filters=filters,
        niveau=user.niveau if user else None,
        filiere=user.filiere if user else None,
        exclude=[] if seen is None else seen.tolist(),
        half_life_days=half_life_days,
    )
    return Ranked(items, None, "popularity"), history


def _mask(item_ids: np.ndarray, eligible: np.ndarray, seen: np.ndarray | None) -> np.ndarray:
    mask = np.isin(item_ids, eligible)
    if seen is not None and len(seen):
        mask &= ~np.isin(item_ids, seen)
    return mask


async def _personalised(
    session: AsyncSession,
    active: ActiveModel,
    scores: np.ndarray,
    k: int,
    seen: np.ndarray | None,
    filters: ItemFilters,
    history: list[HistoryEntry],
) -> Ranked:
    item_ids = np.asarray(active.model.item_ids, dtype=np.int64)
    eligible = await eligible_item_ids(session=session, filters=filters)
    best = top_k(np.asarray(scores, dtype=np.float64), _mask(item_ids, eligible, seen), k)
    known = [h for h in history if h.item_id in active.known_items]
    chosen = item_ids[best]
    anchors = _closest_anchors(active, chosen, known)
    items = []
    for index, item_id in zip(best, chosen, strict=True):
        anchor = anchors.get(int(item_id))
        reason = "recommended for you"
        if anchor is not None:
            reason = f"because you {VERBS.get(anchor.kind, 'used')} {{anchor}}"
        items.append(
            Scored(int(item_id), float(scores[index]), reason, anchor.item_id if anchor else None)
        )
    return Ranked(items, active.version_id, None)


def _closest_anchors(
    active: ActiveModel, chosen: np.ndarray, known: list[HistoryEntry]
) -> dict[int, HistoryEntry]:
    """For each chosen item, the most similar item of the user's history (cosine > 0).

    One similarity call per history item (at most HISTORY_FOR_REASONS), not per result."""
    if not known or not len(chosen):
        return {}
    sims = np.full((len(known), len(chosen)), -np.inf)
    column = {int(item_id): j for j, item_id in enumerate(chosen)}
    for row, entry in enumerate(known):
        for item_id, similarity in active.model.similar_items(
            entry.item_id, len(chosen), candidates=chosen
        ):
            sims[row, column[int(item_id)]] = similarity
    best_row = sims.argmax(axis=0)
    return {
        int(item_id): known[best_row[j]]
        for j, item_id in enumerate(chosen)
        if sims[best_row[j], j] > 0
    }


async def _similar_to_recent(
    session: AsyncSession,
    active: ActiveModel,
    recent: list[HistoryEntry],
    k: int,
    seen: np.ndarray | None,
    filters: ItemFilters,
) -> Ranked:
    """A user the model has not seen, with fresh interactions: neighbours of those items."""
    item_ids = np.asarray(active.model.item_ids, dtype=np.int64)
    allowed = await eligible_item_ids(session=session, filters=filters)
    eligible = item_ids[_mask(item_ids, allowed, seen)]
    best: dict[int, tuple[float, HistoryEntry]] = {}
    for entry in recent:
        for item_id, similarity in active.model.similar_items(
            entry.item_id, k, candidates=eligible[eligible != entry.item_id]
        ):
            if int(item_id) not in best or similarity > best[int(item_id)][0]:
                best[int(item_id)] = (float(similarity), entry)
    ranked = sorted(best.items(), key=lambda kv: kv[1][0], reverse=True)[:k]
    items = [
        Scored(
            item_id, sim, f"because you {VERBS.get(entry.kind, 'used')} {{anchor}}", entry.item_id
        )
        for item_id, (sim, entry) in ranked
    ]
    return Ranked(items, active.version_id, "similar-to-recent")
