"""Training on a generated data set with planted structure (users prefer their filière)."""

from __future__ import annotations

import numpy as np
import pytest

from recommender_service.ml.artifact import TrainedModel
from recommender_service.ml.pipeline import TrainConfig, fit
from tests.recommender.synthetic import SyntheticData, generate

pytestmark = pytest.mark.slow

CONFIG = TrainConfig(model="neumf", epochs=15, patience=5, seed=7)


@pytest.fixture(scope="module")
def synthetic() -> SyntheticData:
    return generate(seed=0)


@pytest.fixture(scope="module")
def trained(synthetic: SyntheticData) -> tuple[TrainedModel, list[dict]]:
    rows: list[dict] = []
    return fit(synthetic.interactions(), CONFIG, progress=rows.append), rows


def _top10_own_filiere_share(model: TrainedModel, data: SyntheticData) -> float:
    shares = []
    for user in model.user_ids:
        scores = model.scores_for_user(int(user))
        assert scores is not None
        top = model.item_ids[np.argsort(-scores)[:10]]
        own = data.user_filiere[int(user)]
        shares.append(np.mean([data.item_filiere[int(i)] == own for i in top]))
    return float(np.mean(shares))


def test_neumf_beats_popularity_on_hit_ratio_and_ndcg(trained) -> None:
    model, _ = trained
    assert model.metrics["hr@10"] > model.metrics["pop_hr@10"] + 0.05
    assert model.metrics["ndcg@10"] > model.metrics["pop_ndcg@10"] + 0.05


def test_planted_filiere_preference_dominates_top_10(trained, synthetic) -> None:
    model, _ = trained
    # Chance level is 1/4 (four filières); the generator makes own-filière papers 8× likelier.
    assert _top10_own_filiere_share(model, synthetic) >= 0.6


def test_metrics_cover_every_reported_key_beside_popularity(trained) -> None:
    model, _ = trained
    keys = {"hr@10", "ndcg@10", "precision@10", "recall@10", "rmse", "mse", "coverage@10"}
    assert keys <= model.metrics.keys()
    assert {f"pop_{k}" for k in keys} <= model.metrics.keys()
    assert all(0.0 <= model.metrics[k] <= 1.0 for k in keys)


def test_progress_reports_every_selection_epoch_with_validation(trained) -> None:
    model, rows = trained
    select = [r for r in rows if r["stage"] == "select"]
    assert [r["epoch"] for r in select] == list(range(1, len(select) + 1))
    assert select == [{**h, "stage": "select"} for h in model.history]
    for key in ("epoch", "epochs", "loss", "val_hr@10", "val_ndcg@10", "lr", "seconds"):
        assert key in select[0]
    refit = [r for r in rows if r["stage"] == "refit"]
    assert len(refit) == int(model.metrics["best_epoch"])


def test_model_serves_raw_ids_and_rejects_unknown_ones(trained, synthetic) -> None:
    model, _ = trained
    assert list(model.item_ids) == list(synthetic.all_item_ids)
    assert model.n_interactions == len(synthetic.interactions())
    scores = model.scores_for_user(int(model.user_ids[0]))
    assert scores is not None and scores.shape == (150,) and scores.dtype == np.float32
    assert model.scores_for_user(-1) is None
    assert model.similar_items(-1, 5) == []


def test_similar_items_exclude_the_item_and_favour_its_filiere(trained, synthetic) -> None:
    model, _ = trained
    shares = []
    for item in model.item_ids[:40]:
        similar = model.similar_items(int(item), 10)
        assert len(similar) == 10 and int(item) not in {i for i, _ in similar}
        assert [s for _, s in similar] == sorted((s for _, s in similar), reverse=True)
        own = synthetic.item_filiere[int(item)]
        shares.append(np.mean([synthetic.item_filiere[i] == own for i, _ in similar]))
    assert float(np.mean(shares)) >= 0.5


def test_similar_items_stay_inside_candidates(trained) -> None:
    model, _ = trained
    pool = model.item_ids[10:20]
    similar = model.similar_items(int(model.item_ids[10]), 20, candidates=pool)
    assert {i for i, _ in similar} == set(pool[1:].tolist())


def test_round_trip_through_bytes_keeps_scores_and_metadata(trained) -> None:
    model, _ = trained
    loaded = TrainedModel.from_bytes(model.to_bytes())
    user = int(model.user_ids[3])
    np.testing.assert_array_equal(loaded.scores_for_user(user), model.scores_for_user(user))
    assert loaded.algorithm == "neumf" and loaded.config == model.config
    assert loaded.metrics == model.metrics and loaded.history == model.history
    assert list(loaded.user_ids) == list(model.user_ids)
