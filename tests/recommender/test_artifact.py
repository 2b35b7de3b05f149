"""Artefacts of every family survive the bytes round trip, `auto` stores its candidates, and a
format-1 artefact (before EASE, iALS, blends, features and calibration) still loads."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from recommender_service.ml.artifact import FORMAT_VERSION, TrainedModel
from recommender_service.ml.config import TrainConfig
from recommender_service.ml.data import index_data
from recommender_service.ml.families import train_family
from recommender_service.ml.pipeline import fit
from tests.recommender.synthetic import SyntheticData, generate

SMALL = {"embedding_dim": 8, "mlp_layers": (16, 8), "epochs": 3, "ials_factors": 8}
SMALL |= {"ials_iterations": 4, "holdout_metrics": False, "seed": 3}


@pytest.fixture(scope="module")
def synthetic() -> SyntheticData:
    return generate(50, 30, 1500, seed=6)


def _same_answers(a: TrainedModel, b: TrainedModel) -> None:
    for user in a.user_ids[:5]:
        np.testing.assert_array_equal(a.scores_for_user(int(user)), b.scores_for_user(int(user)))
    for item in a.item_ids[:5]:
        assert a.similar_items(int(item), 5) == b.similar_items(int(item), 5)
    assert (a.algorithm, a.config, a.metrics) == (b.algorithm, b.config, b.metrics)
    assert a.history == b.history


@pytest.mark.parametrize("family", ["ease", "ials"])
def test_a_non_neural_model_round_trips_with_its_scores_and_neighbours(
    synthetic: SyntheticData, family: str
) -> None:
    model = fit(synthetic.interactions(), TrainConfig(model=family, **SMALL))
    assert model.algorithm == family
    loaded = TrainedModel.from_bytes(model.to_bytes())
    _same_answers(model, loaded)
    tuned = ("ease_l2",) if family == "ease" else ("ials_regularization", "ials_alpha")
    assert all(getattr(loaded.config, name) is not None for name in tuned)


def test_a_blend_round_trips_with_its_parts_weights_and_scales(synthetic: SyntheticData) -> None:
    idx = index_data(synthetic.interactions())
    config = TrainConfig(
        model="blend", components=("ease", "ials"), blend_weights=(0.3, 0.7), ease_l2=50.0,
        ials_regularization=1.0, ials_alpha=5.0, **SMALL,
    )  # fmt: skip
    module, _ = train_family(config, idx)
    model = TrainedModel(
        module=module, config=config, user_ids=idx.user_ids, item_ids=idx.item_ids,
        metrics={}, history=[], train_seconds=1.0, n_interactions=len(idx.users),
    )  # fmt: skip
    loaded = TrainedModel.from_bytes(model.to_bytes())
    _same_answers(model, loaded)
    torch.testing.assert_close(loaded.module.scales, module.scales)


def test_auto_stores_the_chosen_family_and_every_candidates_figures(
    synthetic: SyntheticData,
) -> None:
    config = TrainConfig(model="auto", candidates=("ease", "ials", "mf"), **SMALL)
    model = fit(synthetic.interactions(), config)
    candidates = model.metrics["candidates"]
    assert {"ease", "ials", "mf"} <= set(candidates) <= {"ease", "ials", "mf", "blend"}
    chosen = [name for name, row in candidates.items() if row["chosen"]]
    assert chosen == [model.algorithm] == [model.config.model]
    assert model.metrics["ndcg@10"] == candidates[model.algorithm]["ndcg@10"]
    for row in candidates.values():
        assert {"val_hr@10", "val_ndcg@10", "hr@10", "ndcg@10", "seconds"} <= row.keys()
    _same_answers(model, TrainedModel.from_bytes(model.to_bytes()))


def test_a_format_1_artefact_still_loads(synthetic: SyntheticData) -> None:
    model = fit(synthetic.interactions(), TrainConfig(model="mf", **SMALL))
    payload = torch.load(io.BytesIO(model.to_bytes()), weights_only=True)
    assert payload["format"] == FORMAT_VERSION == 3
    old_keys = {"model", "embedding_dim", "mlp_layers", "dropout", "epochs", "seed", "lr"}
    payload["format"] = 1
    del payload["features"], payload["calibration"]  # format 3's
    payload["config"] = {k: v for k, v in payload["config"].items() if k in old_keys}
    buf = io.BytesIO()
    torch.save(payload, buf)
    loaded = TrainedModel.from_bytes(buf.getvalue())
    user = int(model.user_ids[0])
    np.testing.assert_array_equal(loaded.scores_for_user(user), model.scores_for_user(user))
    assert loaded.algorithm == "mf" and loaded.config.ease_l2 is None
    # No calibration stored: the logits read through the sigmoid, as before format 3.
    assert loaded.calibration is None and model.calibration is not None
    np.testing.assert_allclose(loaded.calibrated(np.array([0.0, 2.0])), [0.5, 1 / (1 + np.exp(-2))])


def test_an_unknown_format_is_refused(synthetic: SyntheticData) -> None:
    payload = {"format": 99}
    buf = io.BytesIO()
    torch.save(payload, buf)
    with pytest.raises(ValueError, match="unsupported model artefact format 99"):
        TrainedModel.from_bytes(buf.getvalue())
