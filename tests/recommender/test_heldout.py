"""A run's held-out split in raw ids, and how a served model ranks it (ml/heldout.py)."""

from __future__ import annotations

import numpy as np

from recommender_service.ml.artifact import TrainedModel
from recommender_service.ml.heldout import HeldOut, ranking_metrics, served_ranks
from recommender_service.ml.pipeline import TrainConfig, fit
from tests.recommender.synthetic import generate

CONFIG = TrainConfig(
    model="gmf", embedding_dim=8, epochs=2, batch_size=256, holdout_metrics=False,
    refit_full=False, threads=1,
)  # fmt: skip


def _fit() -> tuple[TrainedModel, HeldOut]:
    held: list[HeldOut] = []
    model = fit(generate(40, 30, 1200, seed=4).interactions(), CONFIG, on_held_out=held.append)
    assert len(held) == 1
    return model, held[0]


def test_the_held_out_split_is_each_users_latest_item_in_raw_ids_with_the_runs_metrics() -> None:
    model, held = _fit()
    data = generate(40, 30, 1200, seed=4).interactions()  # the same rows `_fit` trained on
    assert sorted(held.user_ids.tolist()) == sorted(set(data.user_ids.tolist()))
    for user_id, item_id in zip(held.user_ids, held.items, strict=True):
        rows = data.user_ids == user_id
        assert item_id in data.item_ids[rows][data.timestamps[rows] == data.timestamps[rows].max()]
    assert ranking_metrics(held.ranks, 10) == {
        "hr@10": model.metrics["hr@10"],
        "ndcg@10": model.metrics["ndcg@10"],
    }
    assert ranking_metrics(held.popularity_ranks, 10)["hr@10"] == model.metrics["pop_hr@10"]


def test_a_served_model_ranks_the_split_in_raw_ids_as_the_run_did() -> None:
    model, held = _fit()  # no refit: the served model is the one the run evaluated
    assert np.array_equal(served_ranks(model, held), held.ranks)


def test_users_and_items_a_model_never_saw_count_against_it() -> None:
    model, _ = _fit()
    known_user = int(model.user_ids[0])
    a, b, c = (int(i) for i in model.item_ids[:3])
    unknown_item = int(model.item_ids.max()) + 1
    rows = HeldOut(
        user_ids=np.array([known_user, 10**9, known_user, known_user]),
        candidates=np.array([[a, b, c], [a, b, c], [unknown_item, a, b], [a, unknown_item, -1]]),
        ranks=np.zeros(4, dtype=np.int64),
        popularity_ranks=np.zeros(4, dtype=np.int64),
    )
    ranks = served_ranks(model, rows)
    scores = model.scores_for_user(known_user)
    assert ranks[1] == 3  # a user it never saw: a miss (past every candidate)
    assert ranks[2] == 3  # a held-out item it never saw: a miss
    assert ranks[3] == 0  # an unknown negative ranks below every known item; -1 pads
    expected = int(scores[1] > scores[0]) + int(scores[2] > scores[0])
    assert ranks[0] == expected
