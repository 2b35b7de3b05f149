"""EASE^R (Steck, WWW'19): item-item weights in closed form from the Gram matrix.

P = (XᵀX + λI)⁻¹ and B = −P / diag(P) with diag(B) = 0; a user's scores are x_u·B, x_u their
binary history. One fit is one n_items × n_items inverse (ML-1M's 3,706 items: about two seconds
on one core), so λ is searched on validation (`search.log_search`) from a start derived from the
data, twice the mean item count. Similar items come from B's columns: item i's vector says how
much each other item predicts it.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import nn

from .config import TrainConfig
from .data import IndexedData, interaction_matrix
from .search import log_search
from .trainer import Progress, TrainResult, Validate, torch_settings

# B is dense, n_items² floats: 20,000 items are 1.6 GB in float32 (3.2 GB while inverting).
MAX_ITEMS = 20_000


class EASE(nn.Module):
    """Scores from B and the users' training items (CSR buffers, binary)."""

    def __init__(self, n_users: int, n_items: int) -> None:
        super().__init__()
        self.n_items = n_items
        self.weights: torch.Tensor
        self.seen_indptr: torch.Tensor
        self.seen_indices: torch.Tensor
        self.register_buffer("weights", torch.zeros(n_items, n_items))
        self.register_buffer("seen_indptr", torch.zeros(n_users + 1, dtype=torch.int64))
        self.register_buffer("seen_indices", torch.zeros(0, dtype=torch.int64))

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any) -> None:
        # The history's length is the data's, not the configuration's: take the stored one.
        key = prefix + "seen_indices"
        if key in state_dict:
            self.seen_indices = torch.empty_like(state_dict[key])
        super()._load_from_state_dict(state_dict, prefix, *args)

    def history(self, users: torch.Tensor) -> torch.Tensor:
        """The users' binary rows of X, dense (len(users), n_items)."""
        start, stop = self.seen_indptr[users], self.seen_indptr[users + 1]
        lengths = stop - start
        offsets = torch.cumsum(lengths, 0) - lengths
        rows = torch.repeat_interleave(torch.arange(len(users)), lengths)
        within = torch.arange(len(rows)) - offsets[rows]
        dense = torch.zeros(len(users), self.n_items, dtype=self.weights.dtype)
        dense[rows, self.seen_indices[start[rows] + within]] = 1.0
        return dense

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        # One x_u·B row per distinct user of the batch, then the requested entries. Dense:
        # torch's sparse COO product was 20x slower here, and CSR is still a beta API.
        distinct, inverse = torch.unique(users, return_inverse=True)
        rows = self.history(distinct) @ self.weights
        return rows[inverse, items]

    def item_vectors(self) -> torch.Tensor:
        return self.weights.T


class _Solver:
    """The Gram matrix computed once, one inverse per λ."""

    def __init__(self, data: IndexedData) -> None:
        if data.n_items > MAX_ITEMS:
            raise ValueError(f"EASE needs n_items² memory; {data.n_items} > {MAX_ITEMS} items")
        x = interaction_matrix(data)
        x.data[:] = 1.0  # binary, as in the paper
        self.x = x
        self.gram = torch.from_numpy((x.T @ x).toarray().astype(np.float64))
        self.n_users = data.n_users

    def default_l2(self) -> float:
        return max(1.0, 2.0 * float(self.gram.diagonal().mean()))

    def fit(self, l2: float) -> EASE:
        g = self.gram.clone()
        g.diagonal().add_(l2)
        p = torch.cholesky_inverse(torch.linalg.cholesky(g))
        b = p / (-p.diagonal())
        b.fill_diagonal_(0.0)
        module = EASE(self.n_users, g.shape[0])
        module.weights = b.float().contiguous()  # as a loaded artefact has it: same sums
        module.seen_indptr = torch.from_numpy(self.x.indptr.astype(np.int64))
        module.seen_indices = torch.from_numpy(self.x.indices.astype(np.int64))
        return module.eval()


def train_ease(
    config: TrainConfig,
    data: IndexedData,
    *,
    validate: Validate | None = None,
    progress: Progress | None = None,
    deadline: float | None = None,
) -> tuple[EASE, TrainResult]:
    """λ = `config.ease_l2`, or searched on `validate` when None; one history row per λ."""
    key = f"ndcg@{config.eval_k}"
    result = TrainResult()
    started = time.perf_counter()
    with torch_settings(config):
        solver = _Solver(data)

        def fit(point: dict[str, float]) -> tuple[float, EASE]:
            tick = time.perf_counter()
            module = solver.fit(point["ease_l2"])
            scores = validate(module) if validate is not None else {}
            row: dict[str, Any] = {"epoch": len(result.history) + 1, "loss": None, **point}
            row.update({f"val_{k}": v for k, v in scores.items()})
            row["seconds"] = time.perf_counter() - tick
            result.history.append(row)
            if progress is not None:
                progress(row)
            return scores.get(key, 0.0), module

        if config.ease_l2 is not None or validate is None:
            l2 = config.ease_l2 if config.ease_l2 is not None else solver.default_l2()
            result.best_score, module = fit({"ease_l2": l2})
        else:
            found = log_search(fit, {"ease_l2": solver.default_l2()}, deadline=deadline)
            result.best_score, module, l2 = found.score, found.payload, found.point["ease_l2"]
    result.tuned = {"ease_l2": l2}
    result.best_epoch = 1
    result.seconds = time.perf_counter() - started
    return module, result
