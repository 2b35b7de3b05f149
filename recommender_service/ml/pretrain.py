"""Build a neural model for a configuration and train it, pre-training NeuMF's towers when asked.

With `pretrain`, GMF and MLP are trained alone first (Adam), then NeuMF starts from their weights
with the fused head initialised as in He et al. §3.4.1 and a smaller learning rate (the paper
switches to plain SGD at this stage for the same reason: Adam's fresh moments would undo the
pre-trained weights).

With `gmf_init="ials"` the GMF tower is not trained by BCE but taken from iALS: its embeddings
are the ALS factors and its head maps their dot product to a logit (c·1 and b from a logistic
fit on the training labels). On ML-1M a BCE-trained GMF tower reached 0.70 HR@10, iALS 0.727,
and fine-tuning NeuMF from the better tower kept most of the difference (docs/BENCHMARKS.md);
it also saves the tower's epochs, and under `auto` the iALS candidate already fitted is reused.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import nn

from .calibration import logistic_fit
from .config import TrainConfig
from .data import IndexedData, NegativeSampler
from .distributed import rank_seed
from .featured import FeatureNeuMF
from .features import FeatureSpace
from .ials import IALS, train_ials
from .models import GMF, MLP, NeuMF, build_model
from .trainer import Fitted, Progress, TrainResult, Validate, epoch_samples, train

PRETRAINED_LR_SCALE = 0.1
LOGIT_FIT_SAMPLES = 200_000


def new_model(
    config: TrainConfig, n_users: int, n_items: int, features: FeatureSpace | None = None
) -> nn.Module:
    """`neumf_features` without a feature space is its id-only ablation."""
    if config.model == "neumf_features":
        space = features or FeatureSpace.empty(n_users, n_items)
        return FeatureNeuMF(
            space, config.embedding_dim, config.mlp_layers, config.dropout, config.id_dropout
        )
    return build_model(
        config.model,
        n_users,
        n_items,
        embedding_dim=gmf_dim(config),
        mlp_layers=config.mlp_layers,
        dropout=config.dropout,
    )


def gmf_dim(config: TrainConfig) -> int:
    """NeuMF's GMF path has the iALS factors' width when it starts from them."""
    if config.model == "neumf" and config.pretrain and config.gmf_init == "ials":
        return config.ials_factors
    return config.embedding_dim


def build_and_train(
    config: TrainConfig,
    data: IndexedData,
    *,
    validate: Validate | None = None,
    progress: Progress | None = None,
    epochs: int | None = None,
    lrs: list[float] | None = None,
    deadline: float | None = None,
    warm: dict[str, Fitted] | None = None,
) -> tuple[nn.Module, TrainResult]:
    """`warm` may hold an iALS model fitted on `data` (`auto` passes its candidate)."""
    # Each rank of a distributed run draws its own negatives (rank 0: the one-process stream).
    sampler = NegativeSampler(data.users, data.items, data.n_items, rank_seed(config.seed))
    torch.manual_seed(config.seed)  # the initial weights are part of the run's determinism
    module = new_model(config, data.n_users, data.n_items, data.features)
    tuned: dict[str, Any] = {}
    if config.model == "neumf" and config.pretrain:
        assert isinstance(module, NeuMF)
        gmf, tuned = _gmf_tower(config, data, validate, deadline, warm or {})
        mlp_config = replace(config, model="mlp", epochs=config.pretrain_epochs)
        mlp, _ = build_and_train(mlp_config, data, validate=validate, deadline=deadline)
        assert isinstance(mlp, MLP)
        module.load_pretrained(gmf, mlp)
        config = replace(config, lr=config.lr * PRETRAINED_LR_SCALE)  # `lrs` replays are scaled
    result = train(
        module,
        users=data.users,
        items=data.items,
        confidence=data.confidence,
        sampler=sampler,
        config=config,
        validate=validate,
        progress=progress,
        epochs=epochs,
        lrs=lrs,
        deadline=deadline,
    )
    result.tuned = tuned
    return module, result


def _gmf_tower(
    config: TrainConfig,
    data: IndexedData,
    validate: Validate | None,
    deadline: float | None,
    warm: dict[str, Fitted],
) -> tuple[GMF, dict[str, Any]]:
    """The GMF tower, and the hyper-parameters its fit settled on (to refit it alike)."""
    if config.gmf_init == "bce":
        tower_config = replace(config, model="gmf", epochs=config.pretrain_epochs)
        tower, _ = build_and_train(tower_config, data, validate=validate, deadline=deadline)
        assert isinstance(tower, GMF)
        return tower, {}
    if config.gmf_init != "ials":
        raise ValueError(f"gmf_init must be 'bce' or 'ials', not {config.gmf_init!r}")
    if "ials" in warm:
        ials, fitted = warm["ials"]
    else:
        ials, fitted = train_ials(
            replace(config, model="ials"), data, validate=validate, deadline=deadline,
            epochs=None if validate is not None else config.ials_iterations,
        )  # fmt: skip
    assert isinstance(ials, IALS)
    return gmf_from_ials(ials, data, config), {**fitted.tuned, "ials_iterations": fitted.best_epoch}


@torch.no_grad()
def gmf_from_ials(ials: IALS, data: IndexedData, config: TrainConfig) -> GMF:
    """A GMF whose embeddings are the ALS factors and whose head is c·1, b: the logistic fit of
    the training labels (positives, and `num_negatives` sampled negatives each) on x_u·y_i."""
    gmf = GMF(data.n_users, data.n_items, config.ials_factors)
    gmf.user.weight.copy_(ials.user.weight)
    gmf.item.weight.copy_(ials.item.weight)
    sampler = NegativeSampler(data.users, data.items, data.n_items, config.seed)
    ones = np.ones(len(data.users), np.float32)
    u, i, y, _ = epoch_samples(data.users, data.items, ones, sampler, config.num_negatives)
    take = torch.randperm(len(u), generator=torch.Generator().manual_seed(config.seed))
    take = take[:LOGIT_FIT_SAMPLES]
    scale, bias = logistic_fit(ials(u[take], i[take]).numpy(), y[take].numpy())
    gmf.head.weight.fill_(scale)
    gmf.head.bias.fill_(bias)
    return gmf
