"""Build a model for a configuration and train it, pre-training NeuMF's towers when asked.

With `pretrain`, GMF and MLP are trained alone first (Adam), then NeuMF starts from their weights
with the fused head initialised as in He et al. §3.4.1 and a smaller learning rate (the paper
switches to plain SGD at this stage for the same reason: Adam's fresh moments would undo the
pre-trained weights).
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from .config import TrainConfig
from .data import IndexedData, NegativeSampler
from .models import GMF, MLP, NeuMF, build_model
from .trainer import Progress, TrainResult, Validate, train

PRETRAINED_LR_SCALE = 0.1


def new_model(config: TrainConfig, n_users: int, n_items: int) -> nn.Module:
    return build_model(
        config.model,
        n_users,
        n_items,
        embedding_dim=config.embedding_dim,
        mlp_layers=config.mlp_layers,
        dropout=config.dropout,
    )


def build_and_train(
    config: TrainConfig,
    data: IndexedData,
    *,
    validate: Validate | None = None,
    progress: Progress | None = None,
    epochs: int | None = None,
    lrs: list[float] | None = None,
    deadline: float | None = None,
) -> tuple[nn.Module, TrainResult]:
    sampler = NegativeSampler(data.users, data.items, data.n_items, config.seed)
    torch.manual_seed(config.seed)  # the initial weights are part of the run's determinism
    module = new_model(config, data.n_users, data.n_items)
    if config.model == "neumf" and config.pretrain:
        assert isinstance(module, NeuMF)
        towers: list[nn.Module] = []
        for name in ("gmf", "mlp"):
            tower_config = replace(config, model=name, epochs=config.pretrain_epochs)
            tower, _ = build_and_train(tower_config, data, validate=validate, deadline=deadline)
            towers.append(tower)
        gmf, mlp = towers
        assert isinstance(gmf, GMF) and isinstance(mlp, MLP)
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
    return module, result
