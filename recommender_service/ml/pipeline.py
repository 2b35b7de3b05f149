"""`fit`: from interaction data to a model ready to serve, with its metrics beside popularity.

Three stages, all with the same configuration:
1. select: leave-one-out split (each user's latest interaction is the test item, the one before
   it the validation item); train with early stopping on validation NDCG@K (`auto`: every
   candidate and their fusion, the best on validation chosen, `selection.select`); HR@K /
   NDCG@K on the test items with 99 sampled negatives, beside popularity on the same split
   (`auto`: every candidate's too, under `metrics["candidates"]`).
2. holdout (optional): the reference system's random 72/8/20 split; Precision@K, Recall@K,
   coverage@K and RMSE/MSE on the 20 %, beside popularity, for the chosen recipe.
3. refit (optional): retrain on every interaction what the selection chose, for the selected
   number of epochs and learning-rate schedule, so the served model knows each user's latest
   interaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from shared.model_metrics import POPULARITY_PREFIX

from .artifact import TrainedModel
from .calibration import Platt, fit_platt
from .config import TrainConfig
from .data import (
    IndexedData,
    InteractionData,
    NegativeSampler,
    index_data,
    leave_one_out,
    ratio_split,
)
from .evaluation import (
    RankingTask,
    evaluate_lists,
    evaluate_ranking,
    model_score_fn,
    popularity_probabilities,
    popularity_score_fn,
)
from .families import probabilities, refit, train_family
from .features import FeatureSpace, SideInfo
from .heldout import HeldOut
from .selection import Selection, select, summary
from .trainer import tagged

__all__ = ["HeldOut", "TrainConfig", "fit"]

Progress = Callable[[dict], None]
OnHeldOut = Callable[[HeldOut], None]
MAX_VALIDATION_ROWS = 5000


def fit(
    data: InteractionData,
    config: TrainConfig,
    *,
    progress: Progress | None = None,
    item_pool: np.ndarray | None = None,
    on_held_out: OnHeldOut | None = None,
    side: SideInfo | None = None,
) -> TrainedModel:
    """Split, train with early stopping, evaluate beside popularity, return a servable model.

    `on_held_out` receives the test split in raw ids with the selected model's ranks on it
    (before the refit sees those rows), so that another version can be judged on the same rows.
    `side` gives `neumf_features` the users' and items' metadata (ignored by other families).
    The score calibration is fitted on the validation split of the selection stage, where the
    chosen model had not trained on the held-out items, and applied to the served model.
    """
    if len(data) == 0:
        raise ValueError("no interactions to train on")
    started = time.perf_counter()
    idx = index_data(data, item_pool)
    if side is not None:
        idx = replace(idx, features=FeatureSpace.build(idx.user_ids, idx.item_ids, side))
    every = NegativeSampler(idx.users, idx.items, idx.n_items, config.seed)
    selection, metrics, calibration = _select(idx, every, config, progress, on_held_out)
    chosen = selection.chosen
    if config.holdout_metrics:
        metrics.update(_holdout(idx, chosen.config))
    module = chosen.module
    if config.refit_full:
        module = refit(chosen.config, chosen.result, idx, progress=tagged(progress, "refit"))
    return TrainedModel(
        module=module,
        config=chosen.config,
        user_ids=idx.user_ids,
        item_ids=idx.item_ids,
        metrics=metrics,
        history=chosen.result.history,
        train_seconds=time.perf_counter() - started,
        n_interactions=len(data),
        features=idx.features,
        calibration=calibration,
    )


def _select(
    idx: IndexedData,
    every: NegativeSampler,
    config: TrainConfig,
    progress: Progress | None,
    on_held_out: OnHeldOut | None = None,
) -> tuple[Selection, dict[str, Any], Platt]:
    k = config.eval_k
    rest, test = leave_one_out(idx.users, idx.timestamps, config.seed)
    fit_local, val_local = leave_one_out(idx.users[rest], idx.timestamps[rest], config.seed + 1)
    fit_rows, val_rows = rest[fit_local], rest[val_local]
    negatives = config.num_eval_negatives
    val_task = RankingTask.sample(idx.users[val_rows], idx.items[val_rows], every, negatives)
    test_task = RankingTask.sample(idx.users[test], idx.items[test], every, negatives)
    train = idx.subset(fit_rows)
    selection = select(config, train, val_task, progress=progress)
    chosen = selection.chosen
    metrics: dict[str, Any] = evaluate_ranking(model_score_fn(chosen.module), test_task, k)
    pop_score = popularity_score_fn(train.items, idx.n_items)
    pop = evaluate_ranking(pop_score, test_task, k)
    metrics.update({f"{POPULARITY_PREFIX}{name}": value for name, value in pop.items()})
    metrics["best_epoch"] = float(chosen.result.best_epoch)
    calibration = fit_platt(model_score_fn(chosen.module), val_task)
    metrics["calibration"] = calibration.to_dict()
    if config.model == "auto":
        metrics["candidates"] = summary(
            selection, lambda c: evaluate_ranking(model_score_fn(c.module), test_task, k)
        )
    if on_held_out is not None:
        on_held_out(HeldOut.of(idx, test_task, model_score_fn(chosen.module), pop_score))
    return selection, metrics, calibration


def _holdout(idx: IndexedData, config: TrainConfig) -> dict[str, float]:
    k = config.eval_k
    n = len(idx.users)
    train_rows, val_rows, test_rows = ratio_split(n, config.seed)
    train = idx.subset(train_rows)
    seen = NegativeSampler(train.users, train.items, idx.n_items, config.seed)
    every = NegativeSampler(idx.users, idx.items, idx.n_items, config.seed + 2)
    val_rows = val_rows[:MAX_VALIDATION_ROWS]
    val_task = RankingTask.sample(
        idx.users[val_rows], idx.items[val_rows], every, config.num_eval_negatives
    )
    module, _ = train_family(
        config, train, validate=lambda m: evaluate_ranking(model_score_fn(m), val_task, k)
    )
    lists = {
        "test_users": idx.users[test_rows],
        "test_items": idx.items[test_rows],
        "train_seen": seen,
        "n_items": idx.n_items,
        "k": k,
        "seed": config.seed,
    }
    metrics = evaluate_lists(
        model_score_fn(module), probabilities=probabilities(config.model), **lists
    )
    pop = evaluate_lists(
        popularity_score_fn(train.items, idx.n_items),
        probabilities=popularity_probabilities(train.items, idx.n_items),
        **lists,
    )
    metrics.update({f"{POPULARITY_PREFIX}{name}": value for name, value in pop.items()})
    return metrics
