"""iALS through `implicit`: the weighted least-squares optimum on hand-checkable data, the sweep
count a refit replays, and the search of regularisation and α on validation."""

from __future__ import annotations

import numpy as np
import torch

from recommender_service.ml.config import TrainConfig
from recommender_service.ml.data import IndexedData
from recommender_service.ml.ials import train_ials

# Two groups of three users, each with its own three items; users 0 and 3 miss one of theirs.
X = np.zeros((6, 6))
X[:3, :3] = 1
X[3:, 3:] = 1
X[0, 0] = X[3, 3] = 0
CONFIG = TrainConfig(
    model="ials", ials_factors=2, ials_regularization=0.1, ials_alpha=4.0, ials_iterations=15,
    confidence_weighting=False,
)  # fmt: skip


def _data(x: np.ndarray) -> IndexedData:
    users, items = np.nonzero(x)
    return IndexedData.dense(users, items, *x.shape)


def test_item_factors_solve_their_weighted_normal_equations() -> None:
    module, _ = train_ials(CONFIG, _data(X))
    u = module.user.weight.detach().double().numpy()
    v = module.item.weight.detach().double().numpy()
    confidence = 1 + (CONFIG.ials_alpha - 1) * X  # α for a positive, 1 for the rest
    for j in range(6):
        lhs = u.T @ (confidence[:, j, None] * u) + CONFIG.ials_regularization * np.eye(2)
        np.testing.assert_allclose(lhs @ v[j], u.T @ (confidence[:, j] * X[:, j]), atol=1e-4)


def test_a_missing_item_of_the_users_group_outscores_the_other_groups_items() -> None:
    module, _ = train_ials(CONFIG, _data(X))
    scores = module(torch.zeros(6, dtype=torch.int64), torch.arange(6)).detach()
    assert scores[0] > 0.5 and bool((scores[3:] < 0.1).all())
    sims = torch.nn.functional.cosine_similarity(module.item_vectors()[0:1], module.item_vectors())
    assert bool((sims[1:3] > 0.9).all()) and bool((sims[3:].abs() < 0.1).all())


def test_given_epochs_are_the_sweeps_run_and_kept_without_validation() -> None:
    _module, result = train_ials(CONFIG, _data(X), epochs=4)
    assert [r["sweep"] for r in result.history] == [1, 2, 3, 4]
    assert result.best_epoch == 4
    assert result.tuned == {"ials_regularization": 0.1, "ials_alpha": 4.0}


def test_the_search_keeps_the_best_validated_trial_and_its_best_sweep() -> None:
    rng = np.random.default_rng(0)
    data = _data((rng.random((40, 30)) < 0.25).astype(float))
    config = TrainConfig(
        model="ials", ials_factors=4, ials_iterations=5, patience=10, confidence_weighting=False
    )
    calls: list[int] = []

    def validate(module: torch.nn.Module) -> dict[str, float]:
        calls.append(1)
        trial, sweep = divmod(len(calls) - 1, 5)
        return {"hr@10": 0.0, "ndcg@10": 1.0 if (trial, sweep) == (1, 2) else 0.0}

    _module, result = train_ials(config, data, validate=validate)
    trials = [r for r in result.history if r["sweep"] == 1]
    assert len(trials) >= 3 and len(result.history) == 5 * len(trials)  # patience never hit
    second = trials[1]
    assert result.tuned == {k: second[k] for k in ("ials_regularization", "ials_alpha")}
    assert result.best_epoch == 3 and result.best_score == 1.0
