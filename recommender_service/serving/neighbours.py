"""Each item's nearest neighbours in one model version, computed once when the version is loaded
(off the event loop), so that similar items and the "because you used …" reasons cost a row
lookup instead of a pass over every item.

Rows hold the `WIDTH` most similar items by the model's own `similar_items` (cosine of the
learned item vectors), best first, as the model's item indices. When the catalogue has more
items than that, a request whose filters leave fewer than k of a row asks the model directly,
and an item outside every anchor's row gets no "because" reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from recommender_service.ml.artifact import TrainedModel

WIDTH = 128  # the largest k (100), the catalog's slack, and room for items filtered out


@dataclass(frozen=True)
class Neighbours:
    rows: np.ndarray  # (n_items, width) model item indices, best first
    sims: np.ndarray  # (n_items, width) cosine similarity, float32
    lengths: np.ndarray  # (n_items,) how much of each row is filled
    complete: bool  # every row lists every other item

    @classmethod
    def build(cls, model: TrainedModel, width: int = WIDTH) -> Neighbours:
        n = len(model.item_ids)
        width = max(min(width, n - 1), 0)
        rows = np.zeros((n, width), dtype=np.int64)
        sims = np.full((n, width), -np.inf, dtype=np.float32)
        lengths = np.zeros(n, dtype=np.int64)
        for index, item_id in enumerate(model.item_ids):
            pairs = model.similar_items(int(item_id), width)
            lengths[index] = len(pairs)
            if pairs:
                ids = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
                rows[index, : len(pairs)] = np.searchsorted(model.item_ids, ids)
                sims[index, : len(pairs)] = [p[1] for p in pairs]
        return cls(rows, sims, lengths, complete=width >= n - 1)

    def top(
        self,
        model: TrainedModel,
        item_id: int,
        k: int,
        allowed: Callable[[np.ndarray], np.ndarray],
    ) -> list[tuple[int, float]]:
        """The k nearest items to `item_id` for which `allowed(raw ids)` holds, best first."""
        index = model.item_index(item_id)
        if index is None or k <= 0:
            return []
        length = self.lengths[index]
        ids = model.item_ids[self.rows[index, :length]]
        keep = allowed(ids)
        chosen = ids[keep][:k]
        if len(chosen) < k and not self.complete:
            candidates = model.item_ids[allowed(model.item_ids)]
            return model.similar_items(item_id, k, candidates=candidates)
        sims = self.sims[index, :length][keep][:k]
        return [(int(i), float(s)) for i, s in zip(chosen, sims, strict=True)]

    def closest(
        self, model: TrainedModel, anchors: list[int], chosen: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """For each chosen item: which anchor (an index into `anchors`, items the model knows)
        is most similar to it,
        and that similarity (-inf when no anchor lists it among its neighbours)."""
        best = np.zeros(len(chosen), dtype=np.int64)
        if not anchors or not len(chosen):
            return best, np.full(len(chosen), -np.inf)
        anchor_rows = np.searchsorted(model.item_ids, np.asarray(anchors, dtype=np.int64))
        column = np.full(len(model.item_ids), -1, dtype=np.int64)
        column[np.searchsorted(model.item_ids, chosen)] = np.arange(len(chosen))
        columns = column[self.rows[anchor_rows]]  # (anchors, width): where each neighbour goes
        filled = np.arange(self.rows.shape[1]) < self.lengths[anchor_rows][:, None]
        hit = (columns >= 0) & filled
        per_anchor = np.full((len(anchors), len(chosen)), -np.inf, dtype=np.float32)
        which = np.nonzero(hit)
        per_anchor[which[0], columns[hit]] = self.sims[anchor_rows][hit]
        best = per_anchor.argmax(axis=0)
        return best, per_anchor[best, np.arange(len(chosen))].astype(np.float64)
