"""Cold-start evaluation: whole users and whole items held out of training, never seen by it.

A seeded share of the items and of the users is set apart with every interaction they have;
the models train on the rest (early-stopped on each warm user's latest pair). Then:
- new items: per warm user who went on to use a new item, that item ranked among the new items
  they never touched (at most 99): which of this semester's papers fit this student;
- new users: per new user, one of their items ranked among 99 warm items they never touched,
  the user known by their metadata alone (an enrolment's niveau and filière).
Every model goes through `TrainedModel.scores_for`, the call serving makes for an entity
unseen in training. Ties are broken at random (seeded): a scorer that cannot tell candidates
apart (a new item has no popularity, and no row in a model without features) scores the
expected figure of an arbitrary order, 10/N for HR@10 among N candidates, not 0 or 1.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from recommender_service.ml import metrics
from recommender_service.ml.artifact import TrainedModel
from recommender_service.ml.config import TrainConfig
from recommender_service.ml.data import (
    InteractionData,
    NegativeSampler,
    index_data,
    leave_one_out,
)
from recommender_service.ml.evaluation import RankingTask, evaluate_ranking, model_score_fn
from recommender_service.ml.families import train_family
from recommender_service.ml.features import FeatureSpace, Meta, SideInfo
from recommender_service.ml.trainer import Progress

# (user raw id or None, the user's metadata, candidate raw ids) -> scores
Scorer = Callable[[int | None, Meta | None, np.ndarray], np.ndarray]
BIG = 1e6  # "own cell first" outweighs any count


@dataclass(frozen=True)
class Task:
    """Per row: a user (raw id, None when new), the positive in column 0 of `candidates`."""

    users: list[int | None]
    metas: list[Meta | None]
    candidates: np.ndarray  # raw ids, -1 pads


@dataclass(frozen=True)
class ColdSplit:
    warm: InteractionData
    new_items: Task
    new_users: Task
    n_new_items: int
    n_new_users: int


def split(
    data: InteractionData, side: SideInfo, *, share: float = 0.1, seed: int = 0, negatives: int = 99
) -> ColdSplit:
    rng = np.random.default_rng(seed)
    users, items = np.unique(data.user_ids), np.unique(data.item_ids)
    new_u = rng.choice(users, size=max(1, round(share * len(users))), replace=False)
    new_i = rng.choice(items, size=max(1, round(share * len(items))), replace=False)
    cold_u, cold_i = np.isin(data.user_ids, new_u), np.isin(data.item_ids, new_i)
    warm_rows = np.flatnonzero(~cold_u & ~cold_i)
    warm = InteractionData(
        data.user_ids[warm_rows], data.item_ids[warm_rows],
        data.confidence[warm_rows], data.timestamps[warm_rows],
    )  # fmt: skip
    touched: dict[int, set[int]] = {}
    for u, i in zip(data.user_ids.tolist(), data.item_ids.tolist(), strict=True):
        touched.setdefault(u, set()).add(i)
    item_rows = np.flatnonzero(~cold_u & cold_i)
    item_task = _task(
        rng, data.user_ids[item_rows], data.item_ids[item_rows], np.sort(new_i), touched,
        negatives, keep_user=True, side=side,
    )  # fmt: skip
    user_rows = np.flatnonzero(cold_u & ~cold_i)
    user_task = _task(
        rng, data.user_ids[user_rows], data.item_ids[user_rows], np.unique(warm.item_ids),
        touched, negatives, keep_user=False, side=side,
    )  # fmt: skip
    return ColdSplit(warm, item_task, user_task, len(new_i), len(new_u))


def _task(
    rng: np.random.Generator,
    users: np.ndarray,
    items: np.ndarray,
    pool: np.ndarray,
    touched: dict[int, set[int]],
    negatives: int,
    *,
    keep_user: bool,
    side: SideInfo,
) -> Task:
    """One random positive per user, and up to `negatives` untouched items of `pool`."""
    order = rng.permutation(len(users))
    _, first = np.unique(users[order], return_index=True)
    rows = order[first]
    task_users: list[int | None] = []
    metas: list[Meta | None] = []
    candidates = np.full((len(rows), negatives + 1), -1, np.int64)
    for row, r in enumerate(rows):
        user = int(users[r])
        free = pool[~np.isin(pool, list(touched[user]))]
        take = rng.choice(free, size=min(negatives, len(free)), replace=False)
        candidates[row, 0] = items[r]
        candidates[row, 1 : 1 + len(take)] = take
        task_users.append(user if keep_user else None)
        metas.append(side.users.get(user))
    return Task(task_users, metas, candidates)


def evaluate(scorer: Scorer, task: Task, k: int = 10, seed: int = 0) -> dict[str, float]:
    scores = np.full(task.candidates.shape, -np.inf)
    for row, (user, meta) in enumerate(zip(task.users, task.metas, strict=True)):
        valid = task.candidates[row] >= 0
        scores[row, valid] = scorer(user, meta, task.candidates[row, valid])
    valid = task.candidates >= 0
    tiebreak = np.random.default_rng(seed).random(scores.shape)
    tied = (scores == scores[:, :1]) & (tiebreak > tiebreak[:, :1]) & valid
    tied[:, 0] = False
    ranks = ((scores > scores[:, :1]) & valid).sum(axis=1) + tied.sum(axis=1)
    return {f"hr@{k}": metrics.hit_ratio_at_k(ranks, k), f"ndcg@{k}": metrics.ndcg_at_k(ranks, k)}


def train_warm(
    warm: InteractionData,
    side: SideInfo | None,
    config: TrainConfig,
    *,
    progress: Progress | None = None,
) -> TrainedModel:
    """`config.model` on the warm pairs, early-stopped on each user's latest one; `side` None
    trains `neumf_features` with no feature (its id-only ablation)."""
    idx = index_data(warm)
    space = (
        FeatureSpace.empty(idx.n_users, idx.n_items)
        if side is None
        else FeatureSpace.build(idx.user_ids, idx.item_ids, side)
    )
    idx = replace(idx, features=space)
    rest, val = leave_one_out(idx.users, idx.timestamps, config.seed)
    every = NegativeSampler(idx.users, idx.items, idx.n_items, config.seed)
    task = RankingTask.sample(idx.users[val], idx.items[val], every, config.num_eval_negatives)
    started = time.perf_counter()
    module, result = train_family(
        config, idx.subset(rest), progress=progress,
        validate=lambda m: evaluate_ranking(model_score_fn(m), task, config.eval_k),
    )  # fmt: skip
    return TrainedModel(
        module=module, config=config, user_ids=idx.user_ids, item_ids=idx.item_ids,
        metrics={}, history=result.history, train_seconds=time.perf_counter() - started,
        n_interactions=len(warm), features=idx.features,
    )  # fmt: skip


def model_scorer(model: TrainedModel, side: SideInfo) -> Scorer:
    def score(user: int | None, meta: Meta | None, items: np.ndarray) -> np.ndarray:
        out = model.scores_for(user, items, user_meta=meta, item_meta=side.items)
        assert out is not None
        return out

    return score


def popularity_scorer(
    warm: InteractionData,
    side: SideInfo,
    *,
    own_fields: Sequence[str] = (),
    group_fields: Sequence[str] = (),
) -> Scorer:
    """Items of the user's own `own_fields` values first (the service's "popular in L2 MATH":
    niveau and filière), then by their warm interactions, counted among users sharing the
    user's `group_fields` (none: every user). A new item has no count: only its cell tells."""

    def key(meta: Meta | None, fields: Sequence[str]) -> tuple[Any, ...]:
        return tuple((meta or {}).get(f) for f in fields)

    counts: dict[tuple[Any, ...], dict[int, int]] = {}
    for u, i in zip(warm.user_ids.tolist(), warm.item_ids.tolist(), strict=True):
        group = counts.setdefault(key(side.users.get(u), group_fields), {})
        group[i] = group.get(i, 0) + 1

    def score(user: int | None, meta: Meta | None, items: np.ndarray) -> np.ndarray:
        group = counts.get(key(meta, group_fields), {})
        mine = key(meta, own_fields)
        own = [bool(own_fields) and key(side.items.get(int(i)), own_fields) == mine for i in items]
        return BIG * np.asarray(own, float) + np.array([group.get(int(i), 0) for i in items], float)

    return score


def run(
    data: InteractionData,
    side: SideInfo,
    config: TrainConfig,
    scorers: dict[str, Callable[[InteractionData], Scorer]],
    *,
    share: float = 0.1,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The table: per task (new items, new users) and per method, HR@K and NDCG@K. `scorers`
    adds baselines built from the warm pairs; the feature model and its ablation always run."""
    cold = split(data, side, share=share, seed=config.seed)
    started = time.perf_counter()
    featured = train_warm(cold.warm, side, config, progress=progress)
    plain = train_warm(cold.warm, None, config, progress=progress)
    methods: dict[str, Scorer] = {
        "features": model_scorer(featured, side),
        "no features": model_scorer(plain, side),
        **{name: build(cold.warm) for name, build in scorers.items()},
    }
    k = config.eval_k
    table = {
        task_name: {name: evaluate(s, task, k, config.seed) for name, s in methods.items()}
        for task_name, task in (("new items", cold.new_items), ("new users", cold.new_users))
    }
    return {
        "table": table,
        "rows": {"new items": len(cold.new_items.users), "new users": len(cold.new_users.users)},
        "held_out": {"items": cold.n_new_items, "users": cold.n_new_users},
        "warm_pairs": len(cold.warm),
        "epochs": {"features": len(featured.history), "no features": len(plain.history)},
        "train_seconds": round(time.perf_counter() - started, 1),
    }
