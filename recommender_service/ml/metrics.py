"""Ranking and rating metrics as plain numpy functions.

Conventions: a *rank* is 0-based (0 = the top). Leave-one-out metrics take, per user, the rank of
the held-out item among its candidates; list metrics take a (n_users, k) array of recommended item
indices (-1 pads a short list) and one set of relevant items per user.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def rank_of_positive(scores: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Rank of column 0 (the held-out item) among each row's candidates.

    Counts the candidates scored strictly higher, plus half of those tied (rounded down), so a
    model that scores everything equal lands mid-list instead of on top.
    """
    scores = np.asarray(scores, dtype=np.float64)
    valid = np.ones_like(scores, dtype=bool) if mask is None else np.asarray(mask, bool)
    target = scores[:, :1]
    others = valid.copy()
    others[:, 0] = False
    higher = ((scores > target) & others).sum(axis=1)
    tied = ((scores == target) & others).sum(axis=1)
    return higher + tied // 2


def hit_ratio_at_k(ranks: np.ndarray, k: int) -> float:
    """Share of users whose held-out item is in the top k."""
    ranks = np.asarray(ranks)
    return float(np.mean(ranks < k)) if len(ranks) else 0.0


def ndcg_at_k(ranks: np.ndarray, k: int) -> float:
    """Mean NDCG@k with one relevant item: 1 / log2(rank + 2) inside the top k, else 0."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if len(ranks) == 0:
        return 0.0
    gains = np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)
    return float(gains.mean())


def precision_at_k(recommended: np.ndarray, relevant: Sequence[set[int]], k: int) -> float:
    """Mean over users of |top-k ∩ relevant| / k."""
    hits = _hits(recommended, relevant, k)
    return float(np.mean(hits / k)) if len(hits) else 0.0


def recall_at_k(recommended: np.ndarray, relevant: Sequence[set[int]], k: int) -> float:
    """Mean over users with relevant items of |top-k ∩ relevant| / |relevant|."""
    hits = _hits(recommended, relevant, k)
    sizes = np.array([len(r) for r in relevant], dtype=np.float64)
    keep = sizes > 0
    return float(np.mean(hits[keep] / sizes[keep])) if keep.any() else 0.0


def _hits(recommended: np.ndarray, relevant: Sequence[set[int]], k: int) -> np.ndarray:
    if len(recommended) != len(relevant):
        raise ValueError("one relevant set per recommended list")
    top = np.asarray(recommended)[:, :k]
    return np.array(
        [
            len({int(i) for i in row if i >= 0} & rel)
            for row, rel in zip(top, relevant, strict=True)
        ],
        dtype=np.float64,
    )


def mse(predictions: np.ndarray, targets: np.ndarray) -> float:
    diff = np.asarray(predictions, np.float64) - np.asarray(targets, np.float64)
    return float(np.mean(diff**2)) if len(diff) else 0.0


def rmse(predictions: np.ndarray, targets: np.ndarray) -> float:
    return float(np.sqrt(mse(predictions, targets)))


def coverage(recommended: np.ndarray, n_items: int) -> float:
    """Share of the catalogue that appears in at least one user's list."""
    items = np.asarray(recommended).ravel()
    return float(len(np.unique(items[items >= 0])) / n_items) if n_items else 0.0
