"""Every model family behind one interface: build it (to load an artefact), train it, refit it.

A family's module maps (user, item) index tensors to scores and exposes `item_vectors()`, so
evaluation, serialisation and serving treat NeuMF, EASE^R, iALS and a blend alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import get_args

import numpy as np
from torch import nn

from shared.training import ModelName

from .blend import Blend
from .config import TrainConfig
from .data import IndexedData
from .ease import EASE, train_ease
from .evaluation import sigmoid
from .features import FeatureSpace
from .ials import IALS, train_ials
from .models import MODEL_NAMES
from .pretrain import build_and_train, new_model
from .trainer import Fitted, Progress, TrainResult, Validate, tagged, use_threads

NEURAL = (*MODEL_NAMES, "neumf_features")
# Cheapest first (seconds per fit on ML-1M: EASE ~4 per λ, iALS ~8 per trial, MF/GMF ~20 an
# epoch, NeuMF ~35 an epoch; docs/BENCHMARKS.md).
COST_ORDER = ("ease", "ials", "mf", "gmf", "mlp", "neumf", "neumf_features")
FAMILIES = (*COST_ORDER, "blend")
NAMES: tuple[str, ...] = get_args(ModelName)
assert set(NAMES) == {*COST_ORDER, "auto"}, "shared.training.ModelName and COST_ORDER differ"


def probabilities(model: str) -> Callable[[np.ndarray], np.ndarray]:
    """Scores read as probabilities (for RMSE): EASE and iALS regress the 0/1 matrix, so their
    scores are clipped to [0, 1]; logits (the neural models) and a blend's weighted sum of
    spreads go through the sigmoid, which is monotone but not calibrated for a blend."""
    if model in ("ease", "ials"):
        return lambda scores: np.clip(np.asarray(scores, np.float64), 0.0, 1.0)
    return sigmoid


def build_module(
    config: TrainConfig, n_users: int, n_items: int, features: FeatureSpace | None = None
) -> nn.Module:
    """An untrained module of the configuration's shape (to load a state dict into)."""
    if config.model == "ease":
        return EASE(n_users, n_items)
    if config.model == "ials":
        return IALS(n_users, n_items, config.ials_factors)
    if config.model == "blend":
        parts = [
            build_module(replace(config, model=c), n_users, n_items, features)
            for c in config.components
        ]
        return Blend(parts, config.blend_weights)
    if config.model in NEURAL:
        return new_model(config, n_users, n_items, features)
    raise ValueError(f"unknown model {config.model!r}; expected one of {FAMILIES}")


def train_family(
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
    """Train `config.model` on `data`; `validate` early-stops and searches what is left None;
    `warm` offers models already fitted on `data` to start from (NeuMF's GMF tower)."""
    use_threads(config)
    if config.model == "ease":
        return train_ease(config, data, validate=validate, progress=progress, deadline=deadline)
    if config.model == "ials":
        return train_ials(
            config, data, validate=validate, progress=progress, epochs=epochs, deadline=deadline
        )
    if config.model == "blend":
        result = TrainResult()
        parts = []
        for name in config.components:
            part, result.parts[name] = train_family(
                replace(config, model=name), data, validate=validate,
                progress=tagged(progress, name), deadline=deadline,
            )  # fmt: skip
            parts.append(part)
        return assemble(config, parts, data), result
    if config.model in NEURAL:
        return build_and_train(
            config, data, validate=validate, progress=progress, epochs=epochs, lrs=lrs,
            deadline=deadline, warm=warm,
        )  # fmt: skip
    raise ValueError(f"unknown model {config.model!r}; expected one of {FAMILIES}")


def assemble(config: TrainConfig, parts: list[nn.Module], data: IndexedData) -> Blend:
    return Blend(parts, config.blend_weights).calibrate(data.n_users, data.n_items, config.seed)


def refit(
    config: TrainConfig,
    result: TrainResult,
    data: IndexedData,
    *,
    progress: Progress | None = None,
    keep: dict[str, nn.Module] | None = None,
) -> nn.Module:
    """Retrain on `data` what `result` selected: the same hyper-parameters, the same number of
    epochs (or sweeps) and learning-rate schedule. Families in `keep` are not retrained: their
    given module is used as is (the benchmark keeps its early-stopped neural models)."""
    keep = keep or {}
    if config.model in keep:
        return keep[config.model]
    if config.model == "blend":
        parts = []
        for name in config.components:
            part = refit(
                replace(config, model=name), result.parts[name], data,
                progress=tagged(progress, f"refit:{name}"), keep=keep,
            )  # fmt: skip
            parts.append(part)
        return assemble(config, parts, data)
    best = max(1, result.best_epoch)
    lrs = [row["lr"] for row in result.history[:best]] if config.model in NEURAL else None
    module, _ = train_family(config, data, progress=progress, epochs=best, lrs=lrs)
    return module
