"""Platt scaling: raw scores to 0–1, monotone, fitted on the validation split of every family."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recommender_service.ml.calibration import Platt, fit_platt, logistic_fit
from recommender_service.ml.config import TrainConfig
from recommender_service.ml.data import NegativeSampler, index_data, leave_one_out
from recommender_service.ml.evaluation import RankingTask, model_score_fn
from recommender_service.ml.pipeline import fit
from tests.recommender.synthetic import SyntheticData, generate

SMALL = {"embedding_dim": 8, "mlp_layers": (16, 8), "epochs": 6, "batch_size": 512}
SMALL |= {"holdout_metrics": False, "seed": 2, "ials_factors": 8, "ials_iterations": 4}


@pytest.fixture(scope="module")
def synthetic() -> SyntheticData:
    return generate(n_users=150, n_items=200, n_interactions=6000, seed=4)


@given(
    st.floats(0.01, 50), st.floats(-20, 20),
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=50),
)  # fmt: skip
def test_calibrated_scores_are_monotone_and_within_the_unit_interval(
    slope: float, intercept: float, raw: list[float]
) -> None:
    platt = Platt(slope, intercept)
    ordered = np.sort(np.asarray(raw))
    out = platt(ordered)
    assert ((out >= 0.0) & (out <= 1.0)).all()
    assert (np.diff(out) >= 0).all()


def test_the_fit_recovers_the_parameters_that_drew_the_labels() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(3.0, 2.0, 200_000)  # off-centre, like EASE's or a logit's scale
    labels = rng.random(len(scores)) < 1 / (1 + np.exp(-(0.8 * scores - 2.0)))
    a, b = logistic_fit(scores, labels.astype(float))
    assert a == pytest.approx(0.8, abs=0.02) and b == pytest.approx(-2.0, abs=0.05)


def test_a_perfectly_separated_validation_still_gives_a_finite_calibration() -> None:
    users = np.arange(20)
    task = RankingTask(users, np.tile(np.arange(5), (20, 1)))  # item 0 always the positive
    platt = fit_platt(lambda u, items: np.where(items == 0, 5.0, -5.0), task)
    assert 0 < platt.slope < 100 and np.isfinite(platt.intercept)
    assert platt.pairs == 100
    assert 0.9 < platt(np.array([5.0]))[0] < 1.0 and 0.0 < platt(np.array([-5.0]))[0] < 0.1


@pytest.mark.parametrize("family", ["neumf", "ease", "ials"])
def test_every_family_stores_a_sensible_calibration_fitted_on_planted_data(
    synthetic: SyntheticData, family: str
) -> None:
    data = synthetic.interactions()
    model = fit(data, TrainConfig(model=family, refit_full=False, **SMALL))
    platt = model.calibration
    assert platt is not None and model.metrics["calibration"] == platt.to_dict()
    assert platt.slope > 0  # a higher raw score means likelier
    # On the test items (not the validation the fit saw): positives above 0.5 on average,
    # negatives below, and the balanced mean near the even prior the calibration assumes.
    idx = index_data(data)
    _, test = leave_one_out(idx.users, idx.timestamps, SMALL["seed"])
    every = NegativeSampler(idx.users, idx.items, idx.n_items, 7)
    task = RankingTask.sample(idx.users[test], idx.items[test], every, 99)
    p = model.calibrated(model_score_fn(model.module)(task.users, task.candidates))
    assert (task.candidates >= 0).all()  # 99 real negatives each: no padding to mask
    positives, negatives = p[:, 0].mean(), p[:, 1:].mean()
    assert positives > 0.6 and negatives < 0.4
    assert (positives + negatives) / 2 == pytest.approx(0.5, abs=0.1)
