"""The training loop: a plain function over (model, data, config).

Batches are sliced straight from tensors (one permutation per epoch, no per-sample Python),
negatives are redrawn each epoch by the vectorised sampler, and the best epoch on validation is
kept (early stopping with patience). In a torch.distributed group (`train --distributed`) the
same loop is data-parallel: each rank trains on its share of the epoch's positives with its own
negatives, a 1/N share of each batch, and `distributed` averages the gradients and makes rank
0's validation and time-budget decisions everyone's.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import nn

from . import distributed
from .config import TrainConfig
from .data import NegativeSampler

Validate = Callable[[nn.Module], dict[str, float]]
Progress = Callable[[dict], None]


@dataclass
class TrainResult:
    """A run's per-epoch rows, the epochs (or iterations) of the state kept, and what a search
    settled on: `tuned` hyper-parameters, and for a blend each component's own result."""

    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float = float("-inf")
    seconds: float = 0.0
    tuned: dict[str, Any] = field(default_factory=dict)
    parts: dict[str, TrainResult] = field(default_factory=dict)


Fitted = tuple[nn.Module, TrainResult]  # a trained module and how it was trained


def tagged(progress: Progress | None, stage: str) -> Progress | None:
    """`progress` that marks each row with `stage` unless the row has one (the inner wins)."""
    if progress is None:
        return None
    return lambda row: progress({"stage": stage, **row})


def use_threads(config: TrainConfig) -> None:
    """torch's intra-op threads for all a run computes, ALS validation and head fits included:
    the count is process-wide, and a product summed by two threads differs in its last bits
    from one summed by one, so a run that set it late was not the same run."""
    if config.threads:
        torch.set_num_threads(config.threads)


@contextmanager
def torch_settings(config: TrainConfig) -> Iterator[None]:
    use_threads(config)
    # Tiny Adam moments and embedding updates become denormal floats, which CPUs handle
    # up to 100x slower; flushing them to zero changes no result that matters. The flag is
    # CPU state of the calling thread: restore it, or every later float in that thread (numpy,
    # the serving code, a test) silently loses the subnormal range.
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def positive_weights(confidence: np.ndarray, enabled: bool) -> np.ndarray:
    """log(1 + confidence), scaled to mean 1, so strong signals count more without dominating."""
    if not enabled or len(confidence) == 0:
        return np.ones(len(confidence), dtype=np.float32)
    w = np.log1p(np.asarray(confidence, dtype=np.float64))
    return (w / w.mean()).astype(np.float32)


def epoch_samples(
    users: np.ndarray,
    items: np.ndarray,
    weights: np.ndarray,
    sampler: NegativeSampler,
    num_negatives: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Positives plus `num_negatives` fresh negatives each: (users, items, labels, weights)."""
    negs = sampler.sample(users, num_negatives).ravel()
    n_neg = len(negs)
    u = np.concatenate([users, np.repeat(users, num_negatives)])
    i = np.concatenate([items, negs])
    y = np.concatenate([np.ones(len(users), np.float32), np.zeros(n_neg, np.float32)])
    w = np.concatenate([weights, np.ones(n_neg, np.float32)])
    return torch.from_numpy(u), torch.from_numpy(i), torch.from_numpy(y), torch.from_numpy(w)


def embedding_penalty(model: nn.Module, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """Mean squared norm of the embedding rows this batch touches (user_*/item_* tables).

    Unlike weight decay, rows absent from the batch are left alone, so rare users and items are
    not shrunk towards zero at every step (the usual L2 of MF/NCF with SGD)."""
    total = torch.zeros((), device=users.device)
    for name, module in model.named_modules():
        if isinstance(module, nn.Embedding) and module.weight.requires_grad:
            leaf = name.rsplit(".", 1)[-1]
            index = users if leaf.startswith("user") else items if leaf.startswith("item") else None
            if index is not None:
                total = total + module(index).pow(2).sum()
    return total / max(1, len(users))


def train(
    model: nn.Module,
    *,
    users: np.ndarray,
    items: np.ndarray,
    confidence: np.ndarray,
    sampler: NegativeSampler,
    config: TrainConfig,
    validate: Validate | None = None,
    progress: Progress | None = None,
    epochs: int | None = None,
    lrs: list[float] | None = None,
    deadline: float | None = None,
) -> TrainResult:
    """Train in place; with `validate`, stop early and leave the model at its best epoch.

    `validate(model)` returns metrics; the selection score is its f"ndcg@{k}". `lrs` replays a
    per-epoch learning rate (a refit follows the schedule its selection run found). No epoch
    starts that would end after `deadline` (a `time.perf_counter()` value) if it lasted as
    long as the one before: a time budget, not a quality rule.
    """
    with torch_settings(config):
        torch.manual_seed(config.seed)
        generator = torch.Generator().manual_seed(distributed.rank_seed(config.seed))
        n_epochs = config.epochs if epochs is None else epochs
        device = distributed.torch_device(config.device)
        model.to(device)
        net = distributed.wrap(model, device)  # what steps take; `model` holds the weights
        # Each of N ranks takes 1/N of a batch: the averaged gradient is that of the whole
        # batch, so the learning rate and the steps per epoch stay those of one process.
        batch_size = -(-config.batch_size // distributed.world_size())
        params = [p for p in model.parameters() if p.requires_grad]
        optimiser = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimiser,
            mode="max",
            factor=config.lr_decay,
            patience=config.lr_patience,
            min_lr=config.min_lr,
        )
        loss_fn = nn.BCEWithLogitsLoss(reduction="none")
        weights = positive_weights(confidence, config.confidence_weighting)
        users = np.asarray(users, np.int64)
        items = np.asarray(items, np.int64)
        result = TrainResult()
        best_state = copy.deepcopy(model.state_dict())
        key = f"ndcg@{config.eval_k}"
        stale = 0
        started = time.perf_counter()
        for epoch in range(1, n_epochs + 1):
            tick = time.perf_counter()
            if lrs is not None:
                for group in optimiser.param_groups:
                    group["lr"] = lrs[min(epoch, len(lrs)) - 1]
            net.train()
            rows = distributed.share(len(users), epoch, config.seed)
            mine = (users, items, weights)
            if rows is not None:  # this rank's share of the epoch
                mine = (users[rows], items[rows], weights[rows])
            u, i, y, w = epoch_samples(*mine, sampler, config.num_negatives)
            perm = torch.randperm(len(u), generator=generator)
            u, i, y, w = (t[perm].to(device) for t in (u, i, y, w))
            total = 0.0
            for start in range(0, len(u), batch_size):
                sl = slice(start, start + batch_size)
                logits = net(u[sl], i[sl])
                loss = (loss_fn(logits, y[sl]) * w[sl]).mean()
                if config.l2 > 0:
                    loss = loss + config.l2 * embedding_penalty(model, u[sl], i[sl])
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                if config.grad_clip > 0:
                    nn.utils.clip_grad_norm_(params, config.grad_clip)
                optimiser.step()
                total += loss.item() * len(logits)
            row: dict = {
                "epoch": epoch,
                "epochs": n_epochs,
                "loss": distributed.mean(total / max(1, len(u))),
                "lr": optimiser.param_groups[0]["lr"],
            }
            if validate is not None:
                scores = distributed.from_leader(partial(validate, model))
                row.update({f"val_{k}": v for k, v in scores.items()})
                current = scores[key]
                scheduler.step(current)
                if current > result.best_score:
                    result.best_score, result.best_epoch, stale = current, epoch, 0
                    best_state = copy.deepcopy(model.state_dict())
                else:
                    stale += 1
            else:
                result.best_epoch = epoch
            row["seconds"] = time.perf_counter() - tick
            result.history.append(row)
            if progress is not None:
                progress(row)
            if validate is not None and stale >= config.patience:
                break
            if deadline is not None and distributed.from_leader(
                partial(_past, deadline, row["seconds"])
            ):
                break  # the next epoch, as long as this one, would end past the budget
        if validate is not None:
            model.load_state_dict(best_state)
        model.eval().to("cpu")  # evaluation, artefacts and serving read it on the CPU
        result.seconds = time.perf_counter() - started
        return result


def _past(deadline: float, seconds: float) -> bool:
    """True when a step of `seconds` starting now would end after `deadline`."""
    return time.perf_counter() + seconds > deadline
