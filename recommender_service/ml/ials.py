"""iALS (Hu, Koren & Volinsky, ICDM'08): weighted matrix factorisation by alternating least
squares, fitted by the `implicit` library (conjugate-gradient solver, CPU wheel, no CUDA).

Every unobserved pair counts as a 0 with weight 1, a positive as a 1 with confidence α·w (w:
the interaction's log-compressed confidence, mean 1, as the neural models weight their
positives). The fit runs one ALS sweep at a time so that validation can keep the best sweep
and stop; regularisation and α are searched on validation (`search.log_search`). The factors
are then an ordinary dot-product model, so serving and similar items need nothing new.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits
from torch import nn

from .config import TrainConfig
from .data import IndexedData, interaction_matrix
from .search import log_search
from .trainer import Progress, TrainResult, Validate, positive_weights

# Where the search starts: ML-1M's optimum with 128 factors was (40, 5), with 64 near (10, 5);
# a ×2 walk reaches either in a few fits. No finer step: a √2 step moved validation NDCG@10 by
# less than its noise (±0.004 on 6,040 users) and cost a minute on ML-1M.
START = {"ials_regularization": 20.0, "ials_alpha": 5.0}
MAX_TRIALS = 8


class IALS(nn.Module):
    """User and item factors; the score is their dot product."""

    def __init__(self, n_users: int, n_items: int, factors: int) -> None:
        super().__init__()
        self.user = nn.Embedding(n_users, factors)
        self.item = nn.Embedding(n_items, factors)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        # One row of scores per distinct user, then the requested entries: a matrix product
        # instead of gathering a factor pair per entry (validation took 0.5 s on ML-1M, more
        # than an ALS sweep).
        distinct, inverse = torch.unique(users, return_inverse=True)
        rows = self.user(distinct) @ self.item.weight.T
        return rows[inverse, items]

    def item_vectors(self) -> torch.Tensor:
        return self.item.weight

    @torch.no_grad()
    def load_factors(self, users: np.ndarray, items: np.ndarray) -> None:
        self.user.weight.copy_(torch.from_numpy(np.asarray(users, np.float32)))
        self.item.weight.copy_(torch.from_numpy(np.asarray(items, np.float32)))


def _fit_one(
    config: TrainConfig,
    data: IndexedData,
    point: dict[str, float],
    *,
    validate: Validate | None,
    iterations: int,
    on_row: Progress,
    deadline: float | None,
) -> tuple[IALS, int, float]:
    """One (regularisation, α): sweeps until `iterations`, or `config.patience` sweeps without a
    gain on validation; the module holds the best sweep's factors. (module, sweeps, score)."""
    weights = positive_weights(data.confidence, config.confidence_weighting)
    confidence = interaction_matrix(data, weights)
    als = AlternatingLeastSquares(
        factors=config.ials_factors,
        regularization=point["ials_regularization"],
        alpha=point["ials_alpha"],
        iterations=1,
        num_threads=config.threads or 0,
        random_state=config.seed,
    )
    module = IALS(data.n_users, data.n_items, config.ials_factors)
    key = f"ndcg@{config.eval_k}"
    best, best_sweep, stale = float("-inf"), 0, 0
    best_factors: tuple[np.ndarray, np.ndarray] | None = None
    for sweep in range(1, iterations + 1):
        tick = time.perf_counter()
        als.fit(confidence, show_progress=False)  # one sweep, from the current factors
        module.load_factors(als.user_factors, als.item_factors)
        scores = validate(module) if validate is not None else {}
        row: dict[str, Any] = {"sweep": sweep, "sweeps": iterations, "loss": None, **point}
        row.update({f"val_{k}": v for k, v in scores.items()})
        row["seconds"] = time.perf_counter() - tick
        on_row(row)
        current = scores.get(key, float(sweep))  # without validation: the last sweep
        if current > best:
            best, best_sweep, stale = current, sweep, 0
            best_factors = (als.user_factors.copy(), als.item_factors.copy())
        else:
            stale += 1
        if validate is not None and stale >= config.patience:
            break
        if deadline is not None and time.perf_counter() + row["seconds"] > deadline:
            break
    assert best_factors is not None
    module.load_factors(*best_factors)
    return module.eval(), best_sweep, best


def train_ials(
    config: TrainConfig,
    data: IndexedData,
    *,
    validate: Validate | None = None,
    progress: Progress | None = None,
    epochs: int | None = None,
    deadline: float | None = None,
) -> tuple[IALS, TrainResult]:
    """Regularisation and α from `config`, or searched on `validate` where None; `epochs`
    fixes the number of sweeps (a refit replays the selected one)."""
    result = TrainResult()
    started = time.perf_counter()
    iterations = epochs or config.ials_iterations

    def on_row(row: dict[str, Any]) -> None:
        row = {"epoch": len(result.history) + 1, **row}
        result.history.append(row)
        if progress is not None:
            progress(row)

    def fit(point: dict[str, float]) -> tuple[float, tuple[IALS, int]]:
        module, sweeps, score = _fit_one(
            config, data, point, validate=validate, iterations=iterations, on_row=on_row,
            deadline=deadline,
        )  # fmt: skip
        return score, (module, sweeps)

    given = {"ials_regularization": config.ials_regularization, "ials_alpha": config.ials_alpha}
    fixed = {k: float(v) for k, v in given.items() if v is not None}
    free = {k: START[k] for k, v in given.items() if v is None}
    # The library's OpenMP threads are `config.threads`; its BLAS calls must not add more.
    with threadpool_limits(1, "blas"):
        if validate is None or not free:
            point = {**free, **fixed}
            result.best_score, (module, sweeps) = fit(point)
        else:
            found = log_search(
                lambda p: fit({**fixed, **p}),
                free,
                refinements=0,
                max_trials=MAX_TRIALS,
                deadline=deadline,
            )
            point = {**fixed, **found.point}
            result.best_score, (module, sweeps) = found.score, found.payload
    result.tuned = dict(point)
    result.best_epoch = sweeps
    result.seconds = time.perf_counter() - started
    return module, result
