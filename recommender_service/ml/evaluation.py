"""Evaluation protocols and the non-neural baselines.

- Leave-one-out (NCF protocol): per user, the held-out item ranked among 99 sampled negatives;
  HR@K and NDCG@K.
- Hold-out lists (the reference system's 72/8/20 split): top-K over all items not seen in
  training; Precision@K, Recall@K, coverage; RMSE/MSE of predicted probabilities on held-out
  positives (label 1) and sampled negatives (label 0).
Scoring is one batched pass: a (users × candidates) score matrix, never a Python loop over items.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import metrics
from .data import NegativeSampler

# (user indices, item index matrix of the same number of rows) -> scores of that shape
ScoreFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class RankingTask:
    """Held-out item in column 0 of `candidates`, negatives after it; -1 pads short rows."""

    users: np.ndarray
    candidates: np.ndarray

    @classmethod
    def sample(
        cls, users: np.ndarray, held_out: np.ndarray, sampler: NegativeSampler, negatives: int
    ) -> RankingTask:
        negs = sampler.distinct(users, negatives)
        return cls(users.astype(np.int64), np.concatenate([held_out[:, None], negs], axis=1))


def model_score_fn(model: nn.Module, batch_rows: int = 2048) -> ScoreFn:
    """Scores from a model's logits, in batches of users × candidates, without gradients, on
    the device the model is on (a GPU while `train --device cuda` validates)."""

    @torch.no_grad()
    def score(users: np.ndarray, items: np.ndarray) -> np.ndarray:
        was_training = model.training
        model.eval()
        device = next(model.parameters(), torch.zeros(())).device
        out = np.empty(items.shape, dtype=np.float32)
        for start in range(0, len(users), batch_rows):
            u = torch.from_numpy(users[start : start + batch_rows]).to(device)
            it = torch.from_numpy(np.maximum(items[start : start + batch_rows], 0)).to(device)
            uu = u[:, None].expand_as(it)
            out[start : start + batch_rows] = (
                model(uu.reshape(-1), it.reshape(-1)).view(it.shape).cpu().numpy()
            )
        model.train(was_training)
        return out

    return score


def evaluate_ranking(score: ScoreFn, task: RankingTask, k: int = 10) -> dict[str, float]:
    scores = score(task.users, task.candidates)
    ranks = metrics.rank_of_positive(scores, mask=task.candidates >= 0)
    return {f"hr@{k}": metrics.hit_ratio_at_k(ranks, k), f"ndcg@{k}": metrics.ndcg_at_k(ranks, k)}


def top_k(
    score: ScoreFn, users: np.ndarray, n_items: int, seen: NegativeSampler, k: int
) -> np.ndarray:
    """(len(users), k) best unseen item indices per user; -1 pads when fewer are unseen."""
    all_items = np.broadcast_to(np.arange(n_items), (len(users), n_items))
    out = np.full((len(users), k), -1, dtype=np.int64)
    for start in range(0, len(users), 256):
        u = users[start : start + 256]
        items = np.ascontiguousarray(all_items[: len(u)])
        s = score(u, items).astype(np.float64)
        s[seen.is_positive(np.repeat(u, n_items), items.ravel()).reshape(s.shape)] = -np.inf
        kk = min(k, n_items)
        best = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        order = np.argsort(-np.take_along_axis(s, best, 1), axis=1, kind="stable")
        best = np.take_along_axis(best, order, 1)
        best[~np.isfinite(np.take_along_axis(s, best, 1))] = -1
        out[start : start + len(u), :kk] = best
    return out


def evaluate_lists(
    score: ScoreFn,
    *,
    test_users: np.ndarray,
    test_items: np.ndarray,
    train_seen: NegativeSampler,
    n_items: int,
    k: int,
    probabilities: Callable[[np.ndarray], np.ndarray],
    seed: int,
    negatives_per_positive: int = 4,
) -> dict[str, float]:
    """Precision/Recall/coverage@K over unseen items, and RMSE/MSE on positives + negatives."""
    users = np.unique(test_users)
    recommended = top_k(score, users, n_items, train_seen, k)
    relevant_by_user: dict[int, set[int]] = {int(u): set() for u in users}
    for u, i in zip(test_users.tolist(), test_items.tolist(), strict=True):
        relevant_by_user[u].add(i)
    relevant = [relevant_by_user[int(u)] for u in users]
    # Negatives for RMSE avoid every known positive (train and test), as in the reference.
    all_pos = NegativeSampler(
        np.concatenate([train_seen.keys // n_items, test_users]),
        np.concatenate([train_seen.keys % n_items, test_items]),
        n_items,
        seed,
    )
    neg_items = all_pos.sample(test_users, negatives_per_positive).ravel()
    neg_users = np.repeat(test_users, negatives_per_positive)
    pair_users = np.concatenate([test_users, neg_users])
    pair_items = np.concatenate([test_items, neg_items])
    preds = probabilities(score(pair_users, pair_items[:, None]).ravel())
    targets = np.concatenate([np.ones(len(test_users)), np.zeros(len(neg_users))])
    return {
        f"precision@{k}": metrics.precision_at_k(recommended, relevant, k),
        f"recall@{k}": metrics.recall_at_k(recommended, relevant, k),
        f"coverage@{k}": metrics.coverage(recommended, n_items),
        "rmse": metrics.rmse(preds, targets),
        "mse": metrics.mse(preds, targets),
    }


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


def popularity_score_fn(train_items: np.ndarray, n_items: int) -> ScoreFn:
    """Rank by the number of training interactions (the paper's ItemPop)."""
    counts = np.bincount(train_items, minlength=n_items).astype(np.float32)

    def score(users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return counts[np.maximum(items, 0)]

    return score


def popularity_probabilities(train_items: np.ndarray, n_items: int) -> Callable:
    """Popularity as a probability for RMSE: count / max count."""
    top = max(1, int(np.bincount(train_items, minlength=n_items).max(initial=1)))
    return lambda counts: np.asarray(counts, np.float64) / top


def itemknn_score_fn(
    train_users: np.ndarray,
    train_items: np.ndarray,
    n_users: int,
    n_items: int,
    neighbours: int = 0,
    shrink: float = 0.0,
) -> ScoreFn:
    """Item-kNN (cosine): score(u, i) = Σ_{j ∈ I(u)} sim(i, j); optionally top-`neighbours`."""
    r = torch.zeros(n_users, n_items)
    r[torch.from_numpy(train_users), torch.from_numpy(train_items)] = 1.0
    norms = r.sum(0).sqrt().clamp_min(1e-9)
    sim = (r.T @ r) / (norms[:, None] * norms[None, :] + shrink)
    sim.fill_diagonal_(0.0)
    if 0 < neighbours < n_items:
        keep = sim.topk(neighbours, dim=1).indices
        pruned = torch.zeros_like(sim)
        sim = pruned.scatter_(1, keep, sim.gather(1, keep))
    user_scores = (r @ sim.T).numpy()  # (n_users, n_items); small enough for ML-1M (≈ 90 MB)

    def score(users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return user_scores[users[:, None], np.maximum(items, 0)]

    return score
