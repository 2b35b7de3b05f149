"""Each item's nearest neighbours in one model version, computed once when the version is loaded
(off the event loop), so that similar items and the "because you used …" reasons cost a row
lookup instead of a pass over every item.

Rows hold the `WIDTH` most similar items by the model's own `similar_items` (cosine of the
learned item vectors), best first. When the catalogue has more items than that, a request whose
filters leave fewer than k of a row asks the model directly.
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
    ids: np.ndarray  # (n_items, width) raw item ids, -1 past the end of a row
    sims: np.ndarray  # (n_items, width) cosine similarity, float32, -inf past the end
    complete: bool  # every row lists every other item

    @classmethod
    def build(cls, model: TrainedModel, width: int = WIDTH) -> Neighbours:
        n = len(model.item_ids)
        width = max(min(width, n - 1), 0)
        ids = np.full((n, width), -1, dtype=np.int64)
        sims = np.full((n, width), -np.inf, dtype=np.float32)
        for row, item_id in enumerate(model.item_ids):
            pairs = model.similar_items(int(item_id), width)
            if pairs:
                ids[row, : len(pairs)] = [p[0] for p in pairs]
                sims[row, : len(pairs)] = [p[1] for p in pairs]
        return cls(ids, sims, complete=width >= n - 1)

    def top(
        self,
        model: TrainedModel,
        item_id: int,
        k: int,
        allowed: Callable[[np.ndarray], np.ndarray],
    ) -> list[tuple[int, float]]:
        """The k nearest items to `item_id` for which `allowed(ids)` holds, best first."""
        index = model.item_index(item_id)
        if index is None or k <= 0:
            return []
        ids, sims = self.ids[index], self.sims[index]
        keep = (ids >= 0) & allowed(ids)
        chosen = ids[keep][:k]
        if len(chosen) < k and not self.complete:
            candidates = model.item_ids[allowed(model.item_ids)]
            return model.similar_items(item_id, k, candidates=candidates)
        return [(int(i), float(s)) for i, s in zip(chosen, sims[keep][:k], strict=True)]

    def closest(
        self, model: TrainedModel, anchors: list[int], chosen: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """For each chosen item: which anchor (an index into `anchors`) is most similar to it,
        and that similarity (-inf when no anchor lists it among its neighbours)."""
        rows = [model.item_index(a) for a in anchors]
        known = [r for r in rows if r is not None]
        if len(known) != len(rows):
            raise ValueError("every anchor must be known to the model")
        if not rows or not len(chosen):
            return np.zeros(len(chosen), dtype=np.int64), np.full(len(chosen), -np.inf)
        ids, sims = self.ids[known], self.sims[known]  # (anchors, width)
        match = ids[:, :, None] == chosen[None, None, :]  # (anchors, width, chosen)
        per_anchor = np.where(match, sims[:, :, None], -np.inf).max(axis=1)  # (anchors, chosen)
        best = per_anchor.argmax(axis=0)
        return best, per_anchor[best, np.arange(len(chosen))]
