"""Model selection: candidates fitted cheapest first within a time budget, their fusion, and
the best of them on a validation split held out of the training pairs.

`select` is given the training pairs and the validation task and nothing else, so the test
items cannot influence which model is chosen, its hyper-parameters or its epochs; the caller
measures every candidate on the test items afterwards (`summary`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from torch import nn

from .blend import Blend, tune_weights
from .config import TrainConfig
from .data import IndexedData
from .evaluation import RankingTask, evaluate_ranking, model_score_fn
from .families import COST_ORDER, NEURAL, train_family
from .trainer import Progress, TrainResult, tagged, use_threads


@dataclass
class Candidate:
    name: str
    config: TrainConfig  # the family's configuration, with what its search found
    module: nn.Module
    result: TrainResult
    validation: dict[str, float]
    seconds: float


@dataclass
class Selection:
    candidates: list[Candidate]  # in the order fitted; the fusion last
    skipped: list[str]  # not started: the time budget was spent
    key: str  # the validation metric that chooses

    @property
    def chosen(self) -> Candidate:
        """The best on validation; the earlier (cheaper) one on a tie."""
        return max(self.candidates, key=lambda c: (c.validation[self.key], -self.index(c)))

    def index(self, candidate: Candidate) -> int:
        return next(i for i, c in enumerate(self.candidates) if c is candidate)


def candidate_names(config: TrainConfig) -> list[str]:
    names = list(config.candidates) if config.model == "auto" else [config.model]
    unknown = sorted(set(names) - set(COST_ORDER))
    if unknown:
        raise ValueError(f"unknown candidate(s) {unknown}; expected some of {COST_ORDER}")
    return sorted(set(names), key=COST_ORDER.index)


def select(
    config: TrainConfig,
    train: IndexedData,
    validation: RankingTask,
    *,
    progress: Progress | None = None,
) -> Selection:
    """`config.model`, or with `auto` every one of `config.candidates` and their fusion."""
    k = config.eval_k
    auto = config.model == "auto"

    def validate(module: nn.Module) -> dict[str, float]:
        return evaluate_ranking(model_score_fn(module), validation, k)

    use_threads(config)  # before the first validation
    started = time.perf_counter()
    deadline = None if config.budget_seconds is None else started + config.budget_seconds
    selection = Selection([], [], f"ndcg@{k}")
    for name in candidate_names(config):
        if selection.candidates and deadline is not None and time.perf_counter() >= deadline:
            selection.skipped.append(name)
            continue
        tick = time.perf_counter()
        family = replace(config, model=name)
        warm = {c.name: (c.module, c.result) for c in selection.candidates}
        module, result = train_family(
            family, train, validate=validate, deadline=deadline, warm=warm,
            progress=tagged(progress, f"select:{name}" if auto else "select"),
        )  # fmt: skip
        tuned = replace(family, **result.tuned)
        seconds = time.perf_counter() - tick
        selection.candidates.append(
            Candidate(name, tuned, module, result, validate(module), seconds)
        )
    if auto:
        fused = fuse(selection, train, validation, config)
        if fused is not None:
            fused.validation = validate(fused.module)
            selection.candidates.append(fused)
    return selection


def fuse(
    selection: Selection, train: IndexedData, validation: RankingTask, config: TrainConfig
) -> Candidate | None:
    """A blend of the best neural candidate and every other one, weighted on validation; None
    when fewer than two candidates keep a weight (the best blend is one model)."""
    tick = time.perf_counter()
    neural = [c for c in selection.candidates if c.name in NEURAL]
    pool = [c for c in selection.candidates if c.name not in NEURAL]
    if neural:
        pool.insert(0, max(neural, key=lambda c: c.validation[selection.key]))
    if len(pool) < 2:
        return None
    weights, rows = tune_weights(
        [c.module for c in pool], validation, k=config.eval_k, n_users=train.n_users,
        n_items=train.n_items, seed=config.seed,
    )  # fmt: skip
    kept = [(c, w) for c, w in zip(pool, weights, strict=True) if w > 0]
    if len(kept) < 2:
        return None
    tuned: dict[str, Any] = {
        "components": tuple(c.name for c, _ in kept),
        "blend_weights": tuple(w for _, w in kept),
    }
    merged = replace(config, model="blend", **tuned)
    for c, _ in kept:
        merged = replace(merged, **c.result.tuned)
    module = Blend([c.module for c, _ in kept], tuned["blend_weights"])
    module.calibrate(train.n_users, train.n_items, config.seed)
    result = TrainResult(
        history=[{"epoch": i + 1, **row} for i, row in enumerate(rows)],
        tuned=tuned,
        parts={c.name: c.result for c, _ in kept},
    )
    return Candidate("blend", merged, module, result, {}, time.perf_counter() - tick)


def summary(
    selection: Selection, test: Callable[[Candidate], dict[str, float]]
) -> dict[str, dict[str, Any]]:
    """Per candidate: validation and test figures, seconds, what its search found, chosen."""
    chosen = selection.chosen
    rows: dict[str, dict[str, Any]] = {}
    for c in selection.candidates:
        rows[c.name] = {
            **{f"val_{k}": v for k, v in c.validation.items()},
            **test(c),
            "seconds": round(c.seconds, 2),
            "epochs": len(c.result.history),
            "tuned": {k: list(v) if isinstance(v, tuple) else v for k, v in c.result.tuned.items()},
            "chosen": c is chosen,
        }
    for name in selection.skipped:
        rows[name] = {"skipped": "time budget spent"}
    return rows
