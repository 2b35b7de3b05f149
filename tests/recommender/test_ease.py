"""EASE^R: the closed form on hand-checkable data, its optimality, the λ search, and the
published ML-1M figure (Dacrema et al. 2021: 0.7192 / 0.4494) on the harness."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from recommender_service.ml.config import TrainConfig
from recommender_service.ml.data import IndexedData
from recommender_service.ml.ease import MAX_ITEMS, train_ease
from recommender_service.ml.evaluation import evaluate_ranking, model_score_fn
from recommender_service.ml.families import refit
from recommender_service.offline.datasets import load_ncf

NCF_ML1M = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ncf-ml-1m"


def _data(pairs: list[tuple[int, int]], n_users: int, n_items: int) -> IndexedData:
    users, items = zip(*pairs, strict=True)
    return IndexedData.dense(np.array(users), np.array(items), n_users, n_items)


def test_two_items_always_seen_together_predict_each_other_by_two_thirds() -> None:
    # G + λI = [[3, 2, 0], [2, 3, 0], [0, 0, 2]]; P's first block is [[3, -2], [-2, 3]] / 5,
    # so B[0, 1] = B[1, 0] = (2/5) / (3/5) = 2/3, and item 2 predicts nothing (P[2, 2] alone).
    data = _data([(0, 0), (0, 1), (1, 0), (1, 1), (2, 2)], 3, 3)
    module, result = train_ease(TrainConfig(model="ease", ease_l2=1.0), data)
    expected = torch.tensor([[0, 2 / 3, 0], [2 / 3, 0, 0], [0, 0, 0]])
    torch.testing.assert_close(module.weights, expected)
    scores = module(torch.tensor([0, 0, 0, 2]), torch.tensor([0, 1, 2, 0]))
    torch.testing.assert_close(scores, torch.tensor([2 / 3, 2 / 3, 0.0, 0.0]))
    torch.testing.assert_close(module.item_vectors()[0], expected[:, 0])  # B's column
    assert result.tuned == {"ease_l2": 1.0} and len(result.history) == 1


def test_weights_are_the_constrained_least_squares_optimum() -> None:
    # The stationarity of ‖X − XB‖² + λ‖B‖² with diag(B) = 0: ((G + λI)B − G) is zero off the
    # diagonal (the diagonal carries the constraint's multipliers).
    rng = np.random.default_rng(0)
    x = (rng.random((40, 12)) < 0.3).astype(np.float64)
    users, items = np.nonzero(x)
    data = IndexedData.dense(users, items, 40, 12)
    module, _ = train_ease(TrainConfig(model="ease", ease_l2=3.0), data)
    b = module.weights.double().numpy()
    gram = x.T @ x
    residual = (gram + 3.0 * np.eye(12)) @ b - gram
    np.testing.assert_allclose(residual[~np.eye(12, dtype=bool)], 0.0, atol=1e-4)
    np.testing.assert_array_equal(np.diag(b), 0.0)
    scores = module(torch.arange(40).repeat_interleave(12), torch.arange(12).repeat(40))
    np.testing.assert_allclose(scores.numpy().reshape(40, 12), x @ b, atol=1e-4)


def test_without_a_given_l2_the_search_keeps_the_best_validated_one() -> None:
    rng = np.random.default_rng(1)
    users, items = np.nonzero(rng.random((60, 20)) < 0.3)
    data = IndexedData.dense(users, items, 60, 20)
    fitted: list[torch.nn.Module] = []

    def validate(module: torch.nn.Module) -> dict[str, float]:
        fitted.append(module)
        return {"hr@10": 0.0, "ndcg@10": -abs(len(fitted) - 3.0)}  # the third λ tried is best

    rows: list[dict] = []
    module, result = train_ease(
        TrainConfig(model="ease"), data, validate=validate, progress=rows.append
    )
    assert len(result.history) == len(rows) == len(fitted) >= 4
    assert module is fitted[2]
    assert result.tuned == {"ease_l2": result.history[2]["ease_l2"]}
    assert result.best_score == 0.0
    assert len({r["ease_l2"] for r in result.history}) == len(result.history)  # none twice


def test_too_many_items_for_a_dense_item_item_matrix_is_refused() -> None:
    data = _data([(0, 0)], 1, MAX_ITEMS + 1)
    with pytest.raises(ValueError, match="n_items²"):
        train_ease(TrainConfig(model="ease", ease_l2=1.0), data)


@pytest.mark.slow
@pytest.mark.skipif(
    not (NCF_ML1M / "ml-1m.test.negative").exists(),
    reason=f"NCF ML-1M files not found in {NCF_ML1M}",
)
def test_ml1m_figure_lands_within_half_a_point_of_the_published_one() -> None:
    data = load_ncf(NCF_ML1M, seed=42)
    train = IndexedData.dense(data.train_users, data.train_items, data.n_users, data.n_items)
    full = IndexedData.dense(data.full_users, data.full_items, data.n_users, data.n_items)
    config = TrainConfig(model="ease", threads=1)
    _module, result = train_ease(
        config, train, validate=lambda m: evaluate_ranking(model_score_fn(m), data.validation)
    )
    tuned = TrainConfig(model="ease", threads=1, **result.tuned)
    refitted = refit(tuned, result, full)  # λ from validation, all training pairs (Dacrema)
    figures = evaluate_ranking(model_score_fn(refitted), data.test, 10)
    assert figures["hr@10"] == pytest.approx(0.7192, abs=0.005)
    assert figures["ndcg@10"] == pytest.approx(0.4494, abs=0.005)
