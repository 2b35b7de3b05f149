"""The networks: shapes, pre-training fusion, determinism of training with a seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recommender_service.ml.artifact import TrainedModel
from recommender_service.ml.config import TrainConfig
from recommender_service.ml.data import IndexedData, InteractionData
from recommender_service.ml.ials import train_ials
from recommender_service.ml.models import GMF, MLP, MODEL_NAMES, NeuMF, build_model
from recommender_service.ml.pipeline import fit
from recommender_service.ml.pretrain import gmf_from_ials
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


def _pairs(n_users: int, n_items: int, seed: int) -> IndexedData:
    rng = np.random.default_rng(seed)
    users, items = np.nonzero(rng.random((n_users, n_items)) < 0.3)
    return IndexedData.dense(users, items, n_users, n_items)


def test_a_gmf_tower_from_ials_ranks_every_pair_as_the_factors_do() -> None:
    data = _pairs(30, 20, 0)
    config = TrainConfig(
        model="neumf", ials_factors=6, ials_regularization=1.0, ials_alpha=5.0, ials_iterations=5
    )
    ials, _ = train_ials(config, data)
    gmf = gmf_from_ials(ials, data, config)
    users, items = torch.arange(30).repeat_interleave(20), torch.arange(20).repeat(30)
    with torch.no_grad():
        dot, logit = ials(users, items), gmf(users, items)
    scale, bias = gmf.head.weight[0, 0].item(), gmf.head.bias.item()
    assert scale > 0 and torch.equal(gmf.head.weight, torch.full((1, 6), scale))
    torch.testing.assert_close(logit, scale * dot + bias)


def test_neumf_from_ials_has_the_factors_width_and_round_trips() -> None:
    rng = np.random.default_rng(1)
    pairs = np.unique(np.c_[rng.integers(0, 30, 500), rng.integers(0, 25, 500)], axis=0)
    data = InteractionData.from_pairs(pairs[:, 0], pairs[:, 1], rng.integers(0, 10**6, len(pairs)))
    config = TrainConfig(
        model="neumf", pretrain=True, gmf_init="ials", pretrain_epochs=2, epochs=2,
        embedding_dim=8, mlp_layers=(16, 8), ials_factors=6, ials_iterations=3,
        batch_size=256, holdout_metrics=False,
    )  # fmt: skip
    model = fit(data, config)
    assert isinstance(model.module, NeuMF) and model.module.gmf.user.weight.shape == (30, 6)
    assert model.config.ials_regularization is not None  # searched, and kept for a refit
    loaded = TrainedModel.from_bytes(model.to_bytes())
    user = int(model.user_ids[0])
    np.testing.assert_array_equal(loaded.scores_for_user(user), model.scores_for_user(user))
