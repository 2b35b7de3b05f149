"""Re-ranking the top candidates of a list: rotation, then diversity. Pure functions over numpy
arrays (no I/O), so the offline benchmark and the serving path run the same code.

- Rotation: an item shown to the user `after` times or more without any interaction of theirs
  on it has its relevance multiplied by `factor`, so the same papers are not served for a month
  (the counts come from the read model's impressions).
- Diversity: maximal marginal relevance (Carbonell & Goldstein, 1998) with `diversity` = λ:
  each next item maximises (1 - λ)·relevance − λ·(its highest cosine to the items already
  chosen). Relevance is the scores scaled to [0, 1] over the candidates, so λ weighs two
  quantities of the same range. λ = 0 returns the plain ranking exactly.

Similarity is the cosine of the served model's item embeddings; items without one (a fallback
list, an item the model has not seen) use `attribute_vectors` (matière and type), whose cosine
is 1 for the same matière and type, 0.5 for one of the two, 0 for neither.
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# How many candidates the re-ranking chooses from, per item asked for.
POOL_PER_ITEM = 4


@dataclass(frozen=True)
class Rotation:
    after: int  # impressions without an interaction before an item is damped
    factor: float  # its relevance multiplier then (1: rotation off)

    @property
    def enabled(self) -> bool:
        return self.factor < 1.0


def pool_size(k: int, *, diversity: float, rotation: Rotation) -> int:
    """How many of the best candidates to take before re-ranking down to k."""
    return k if diversity <= 0 and not rotation.enabled else k * POOL_PER_ITEM


def relevance(scores: np.ndarray) -> np.ndarray:
    """Scores scaled to [0, 1] (min-max) over the candidates, order kept; all 1 when equal."""
    s = np.asarray(scores, dtype=np.float64)
    if len(s) == 0:
        return s
    low, span = float(s.min()), float(s.max() - s.min())
    return (s - low) / span if span > 0 else np.ones_like(s)


def damp(
    item_ids: Sequence[int] | np.ndarray,
    rel: np.ndarray,
    *,
    shown: Mapping[int, int],
    engaged: Container[int],
    rotation: Rotation,
) -> np.ndarray:
    """`rel` with the items shown `rotation.after` times or more, never engaged with, damped."""
    if not rotation.enabled or not shown:
        return rel
    out = np.array(rel, dtype=np.float64)
    for j, item_id in enumerate(item_ids):
        item = int(item_id)
        if shown.get(item, 0) >= rotation.after and item not in engaged:
            out[j] *= rotation.factor
    return out


def mmr(rel: np.ndarray, vectors: np.ndarray, *, diversity: float, k: int) -> np.ndarray:
    """Indices of k candidates in MMR order (`vectors`: one unit row per candidate)."""
    n = len(rel)
    k = min(k, n)
    if diversity <= 0 or k <= 1:
        return np.argsort(-np.asarray(rel), kind="stable")[:k]
    gain = (1.0 - diversity) * np.asarray(rel, dtype=np.float64)
    closest = np.zeros(n)  # each candidate's highest cosine to the chosen ones
    free = np.ones(n, dtype=bool)
    chosen = np.empty(k, dtype=np.int64)
    for step in range(k):
        value = np.where(free, gain - diversity * closest, -np.inf)
        best = int(np.argmax(value))  # the first of equals: the better ranked
        chosen[step] = best
        free[best] = False
        closest = np.maximum(closest, vectors @ vectors[best])
    return chosen


def rerank(
    item_ids: np.ndarray,
    scores: np.ndarray,
    vectors: np.ndarray | None,
    *,
    k: int,
    diversity: float,
    rotation: Rotation,
    shown: Mapping[int, int],
    engaged: Container[int],
) -> np.ndarray:
    """Indices into `item_ids` (candidates, best first) of the k to serve, in order."""
    rel = damp(item_ids, relevance(scores), shown=shown, engaged=engaged, rotation=rotation)
    if diversity <= 0 or vectors is None:
        # By relevance, then by score: scaling can tie scores that differ in their last bits.
        order = np.lexsort((np.arange(len(rel)), -np.asarray(scores, dtype=np.float64), -rel))
        return order[:k]
    return mmr(rel, vectors, diversity=diversity, k=k)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float64)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def attribute_vectors(matieres: Sequence[str], types: Sequence[str]) -> np.ndarray:
    """Unit vectors whose cosine is the share of (matière, type) two items have in common."""
    mat = {m: i for i, m in enumerate(dict.fromkeys(matieres))}
    typ = {t: i for i, t in enumerate(dict.fromkeys(types))}
    out = np.zeros((len(matieres), len(mat) + len(typ)))
    rows = np.arange(len(matieres))
    out[rows, [mat[m] for m in matieres]] = 1.0
    out[rows, [len(mat) + typ[t] for t in types]] = 1.0
    return out / np.sqrt(2.0)


def intra_list_diversity(vectors: np.ndarray) -> float:
    """Mean pairwise (1 − cosine) of a list's unit vectors; 0 for fewer than two items."""
    n = len(vectors)
    if n < 2:
        return 0.0
    sims = vectors @ vectors.T
    pairs = n * (n - 1)
    return float((pairs - (sims.sum() - np.trace(sims))) / pairs)
