"""A run's held-out data in raw ids, and how any served model ranks it.

A run keeps its leave-one-out test rows (each user's latest interaction, ranked among sampled
negatives) in raw ids, with the ranks that its own model (trained without those rows) and
popularity gave them, so that another version (the active one) can be scored later on exactly the
same rows. A served model ranks in raw ids as serving does: a user it never saw gets no personal
ranking from it (a miss); an item it never saw, it cannot recommend (scored below every item it
knows; a held-out item it never saw is a miss).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import metrics
from .artifact import TrainedModel
from .data import IndexedData
from .evaluation import RankingTask, ScoreFn


@dataclass(frozen=True)
class HeldOut:
    user_ids: np.ndarray  # raw user id per row
    candidates: np.ndarray  # raw item ids per row: the held-out item, then negatives; -1 pads
    ranks: np.ndarray  # 0-based rank of the held-out item by the run's own model
    popularity_ranks: np.ndarray  # the same by popularity of the run's training rows

    @classmethod
    def of(
        cls, idx: IndexedData, task: RankingTask, model: ScoreFn, popularity: ScoreFn
    ) -> HeldOut:
        valid = task.candidates >= 0
        raw = np.where(valid, idx.item_ids[np.maximum(task.candidates, 0)], -1)
        return cls(
            user_ids=idx.user_ids[task.users],
            candidates=raw.astype(np.int64),
            ranks=metrics.rank_of_positive(model(task.users, task.candidates), valid),
            popularity_ranks=metrics.rank_of_positive(
                popularity(task.users, task.candidates), valid
            ),
        )

    def __len__(self) -> int:
        return len(self.user_ids)

    @property
    def items(self) -> np.ndarray:
        """The held-out item of each row (raw ids)."""
        return self.candidates[:, 0]

    def subset(self, rows: np.ndarray) -> HeldOut:
        return HeldOut(
            self.user_ids[rows],
            self.candidates[rows],
            self.ranks[rows],
            self.popularity_ranks[rows],
        )


def served_ranks(model: TrainedModel, held: HeldOut) -> np.ndarray:
    """Rank of each row's held-out item by `model`, in raw ids (see the module docstring)."""
    miss = held.candidates.shape[1]  # past every candidate: outside any top K
    ranks = np.full(len(held), miss, dtype=np.int64)
    known_ids = model.item_ids
    if len(known_ids) == 0:
        return ranks
    for row, user_id in enumerate(held.user_ids.tolist()):
        scores = model.scores_for_user(int(user_id))
        if scores is None:
            continue
        candidates = held.candidates[row : row + 1]
        pos = np.minimum(np.searchsorted(known_ids, candidates), len(known_ids) - 1)
        known = (candidates >= 0) & (known_ids[pos] == candidates)
        if not known[0, 0]:
            continue
        row_scores = np.where(known, scores[pos].astype(np.float64), -np.inf)
        ranks[row] = metrics.rank_of_positive(row_scores, candidates >= 0)[0]
    return ranks


def ranking_metrics(ranks: np.ndarray, k: int) -> dict[str, float]:
    """HR@K and NDCG@K of held-out ranks (the leave-one-out protocol's figures)."""
    return {f"hr@{k}": metrics.hit_ratio_at_k(ranks, k), f"ndcg@{k}": metrics.ndcg_at_k(ranks, k)}
