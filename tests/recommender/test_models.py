"""The networks: shapes, pre-training fusion, determinism of training with a seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recommender_service.ml.config import TrainConfig
from recommender_service.ml.data import InteractionData
from recommender_service.ml.models import GMF, MLP, MODEL_NAMES, NeuMF, build_model
from recommender_service.ml.pipeline import fit
from recommender_service.ml.trainer import embedding_penalty


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_scores_a_batch_and_exposes_item_vectors(name: str) -> None:
    model = build_model(name, 5, 7, embedding_dim=8, mlp_layers=(16, 8), dropout=0.2)
    out = model(torch.tensor([0, 1, 4]), torch.tensor([6, 0, 3]))
    assert out.shape == (3,)
    assert model.item_vectors().shape[0] == 7


def test_neumf_item_vectors_concatenate_gmf_and_mlp_embeddings() -> None:
    model = NeuMF(3, 4, 8, (16, 8), 0.0)
    assert model.item_vectors().shape == (4, 8 + 8)


def test_pretrained_neumf_mixes_the_towers_predictions_half_and_half() -> None:
    torch.manual_seed(0)
    gmf, mlp = GMF(3, 4, 8), MLP(3, 4, (16, 8), 0.0)
    neumf = NeuMF(3, 4, 8, (16, 8), 0.0)
    neumf.load_pretrained(gmf, mlp, alpha=0.5)
    u, i = torch.tensor([0, 2]), torch.tensor([1, 3])
    expected = 0.5 * gmf(u, i) + 0.5 * mlp(u, i)
    torch.testing.assert_close(neumf.eval()(u, i), expected.detach())


def test_fit_is_deterministic_with_a_seed() -> None:
    rng = np.random.default_rng(0)
    data = InteractionData.from_pairs(
        rng.integers(0, 30, 600), rng.integers(0, 25, 600), rng.integers(0, 10**6, 600)
    )
    data = InteractionData(
        *[
            a[np.unique(np.c_[data.user_ids, data.item_ids], axis=0, return_index=True)[1]]
            for a in (data.user_ids, data.item_ids, data.confidence, data.timestamps)
        ]
    )
    config = TrainConfig(model="mf", epochs=3, batch_size=256, holdout_metrics=False, seed=3)
    a, b = fit(data, config), fit(data, config)
    assert a.metrics == b.metrics
    user = int(a.user_ids[0])
    np.testing.assert_array_equal(a.scores_for_user(user), b.scores_for_user(user))


def test_embedding_penalty_is_the_batch_rows_squared_norm_per_sample() -> None:
    model = build_model("mf", 3, 4, embedding_dim=2, mlp_layers=(4,), dropout=0.0)
    with torch.no_grad():
        for table in (model.user, model.item, model.user_bias, model.item_bias):
            table.weight.fill_(1.0)
    users, items = torch.tensor([0, 0]), torch.tensor([1, 2])
    # Per sample: user row 2 + item row 2 + user bias 1 + item bias 1 = 6; mean over 2 samples.
    assert embedding_penalty(model, users, items).item() == 6.0


def test_embedding_penalty_leaves_rows_outside_the_batch_untouched() -> None:
    model = NeuMF(3, 4, 4, (8, 4), 0.0)
    embedding_penalty(model, torch.tensor([1]), torch.tensor([2])).backward()
    grad = model.gmf.item.weight.grad
    assert grad is not None
    assert torch.count_nonzero(grad[[0, 1, 3]]).item() == 0
    assert torch.count_nonzero(grad[2]).item() == 4
