"""A score blend of fitted models, its weights found on validation (the fusion of `auto`).

score(u, i) = Σ_k w_k · s_k(u, i) / σ_k, where σ_k is the spread of model k's scores over
random (user, item) pairs, so that the weights compare the models on one scale (EASE's scores
are near 0.1, NeuMF's logits near ±5). A per-user shift changes no ranking, so none is removed.
The weights are a grid over the simplex (step 0.1), every point scored on the validation
candidates from each model's scores computed once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import product

import numpy as np
import torch
from torch import nn

from .evaluation import RankingTask, ScoreFn, evaluate_ranking, model_score_fn
from .models import item_vectors

GRID_STEPS = 10  # the simplex in steps of 1/10
SCALE_USERS, SCALE_ITEMS_PER_USER = 500, 40  # random pairs that measure σ_k


class Blend(nn.Module):
    def __init__(self, parts: Sequence[nn.Module], weights: Sequence[float]) -> None:
        super().__init__()
        self.parts = nn.ModuleList(parts)
        self.weights: torch.Tensor
        self.scales: torch.Tensor
        self.register_buffer("weights", torch.tensor(list(weights), dtype=torch.float32))
        self.register_buffer("scales", torch.ones(len(parts)))

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(users.shape)
        for weight, scale, part in zip(self.weights, self.scales, self.parts, strict=True):
            total = total + (weight / scale) * part(users, items)
        return total

    def item_vectors(self) -> torch.Tensor:
        # Each part's unit vectors times √w_k: the cosine of two concatenations is Σ w_k cos_k.
        blocks = []
        for weight, part in zip(self.weights, self.parts, strict=True):
            vectors = item_vectors(part).detach().float()
            unit = vectors / vectors.norm(dim=1, keepdim=True).clamp_min(1e-12)
            blocks.append(weight.sqrt() * unit)
        return torch.cat(blocks, dim=1)

    @torch.no_grad()
    def calibrate(self, n_users: int, n_items: int, seed: int) -> Blend:
        """σ_k of every part, on the same random pairs."""
        self.scales = torch.tensor(
            [score_scale(part, n_users, n_items, seed) for part in self.parts]
        )
        return self


@torch.no_grad()
def score_scale(module: nn.Module, n_users: int, n_items: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    users = rng.choice(n_users, size=min(SCALE_USERS, n_users), replace=False)
    users = np.repeat(users, SCALE_ITEMS_PER_USER)
    items = rng.integers(0, n_items, size=len(users))
    scores = module.eval()(torch.from_numpy(users), torch.from_numpy(items))
    return float(scores.float().std().clamp_min(1e-12))


def simplex(n: int, steps: int = GRID_STEPS) -> Iterator[tuple[float, ...]]:
    """Every weight vector of n non-negative multiples of 1/steps summing to 1."""
    for head in product(range(steps + 1), repeat=n - 1):
        if sum(head) <= steps:
            yield tuple(h / steps for h in (*head, steps - sum(head)))


def tune_weights(
    parts: Sequence[nn.Module], task: RankingTask, *, k: int, n_users: int, n_items: int, seed: int
) -> tuple[tuple[float, ...], list[dict]]:
    """The simplex point with the best validation NDCG@k (first one on ties), and every row."""
    scales = [score_scale(p, n_users, n_items, seed) for p in parts]
    scores = [
        model_score_fn(p)(task.users, task.candidates) / s
        for p, s in zip(parts, scales, strict=True)
    ]
    key = f"ndcg@{k}"
    best: tuple[float, ...] = ()
    best_score = float("-inf")
    rows = []
    for weights in simplex(len(parts)):
        blended = np.sum([w * s for w, s in zip(weights, scores, strict=True)], axis=0)
        metrics = evaluate_ranking(_fixed(blended), task, k)
        rows.append({"weights": list(weights), **{f"val_{m}": v for m, v in metrics.items()}})
        if metrics[key] > best_score:
            best, best_score = weights, metrics[key]
    return best, rows


def _fixed(scores: np.ndarray) -> ScoreFn:
    """The task's score matrix, computed beforehand."""
    return lambda _users, _items: scores
