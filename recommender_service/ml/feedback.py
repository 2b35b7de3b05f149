"""Implicit feedback: raw interaction rows become one confidence per (user, item).

Weights per kind (documented in DESIGN §4): a VIEW is the weakest signal, a CLICK (opening the
detail page) a little stronger, a DOWNLOAD (the student took the paper to work on) the strongest
behavioural one. A RATE counts by its relevance score (1 to 5) scaled so that a top rating is worth
a download and a poor one less than a view; an unknown relevance counts as a middle rating.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shared.enums import InteractionKind

from .data import InteractionData

KIND_WEIGHTS: dict[InteractionKind, float] = {
    InteractionKind.VIEW: 1.0,
    InteractionKind.CLICK: 2.0,
    InteractionKind.DOWNLOAD: 4.0,
    InteractionKind.RATE: 4.0,  # for relevance 5; scaled by relevance / 5
}
DEFAULT_RELEVANCE = 3.0


def interaction_weights(kinds: Sequence[str], relevances: np.ndarray | None) -> np.ndarray:
    """The confidence each raw interaction row contributes (float32)."""
    codes = np.asarray([str(k) for k in kinds])
    weights = np.zeros(len(codes), dtype=np.float32)
    for kind, weight in KIND_WEIGHTS.items():
        weights[codes == kind.value] = weight
    unknown = ~np.isin(codes, [k.value for k in KIND_WEIGHTS])
    if unknown.any():
        raise ValueError(f"unknown interaction kind(s): {sorted(set(codes[unknown]))}")
    is_rate = codes == InteractionKind.RATE.value
    if is_rate.any():
        rel = (
            np.full(len(codes), DEFAULT_RELEVANCE)
            if relevances is None
            else np.asarray(relevances, dtype=np.float64)
        )
        rel = np.where(np.isnan(rel), DEFAULT_RELEVANCE, np.clip(rel, 1.0, 5.0))
        weights[is_rate] *= (rel[is_rate] / 5.0).astype(np.float32)
    return weights


def implicit_feedback(
    user_ids: np.ndarray,
    item_ids: np.ndarray,
    kinds: Sequence[str],
    relevances: np.ndarray | None,
    timestamps: np.ndarray,
) -> InteractionData:
    """Aggregate raw rows into one row per (user, item): summed confidence, latest timestamp."""
    users = np.asarray(user_ids, dtype=np.int64)
    items = np.asarray(item_ids, dtype=np.int64)
    times = np.asarray(timestamps, dtype=np.int64)
    if not (len(users) == len(items) == len(kinds) == len(times)):
        raise ValueError("user_ids, item_ids, kinds and timestamps must have the same length")
    if relevances is not None and len(relevances) != len(users):
        raise ValueError("relevances must have one entry per row")
    weights = interaction_weights(kinds, relevances)
    if len(users) == 0:
        return InteractionData.empty()
    pairs = np.stack([users, items], axis=1)
    unique_pairs, inverse = np.unique(pairs, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    confidence = np.zeros(len(unique_pairs), dtype=np.float64)
    np.add.at(confidence, inverse, weights)
    last = np.full(len(unique_pairs), np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last, inverse, times)
    return InteractionData(
        user_ids=unique_pairs[:, 0].copy(),
        item_ids=unique_pairs[:, 1].copy(),
        confidence=confidence.astype(np.float32),
        timestamps=last,
    )
