"""Training hyper-parameters (one dataclass shared by the pipeline, the trainer and the CLIs)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

# Tuple fields, with the type of their elements (JSON holds them as lists).
_TUPLES = {"mlp_layers": int, "candidates": str, "components": str, "blend_weights": float}


@dataclass
class TrainConfig:
    """Defaults per DESIGN §4 (embedding 64, MLP [128, 64, 32], dropout 0.2, 4 negatives,
    Adam, patience 10), with a large batch and a learning rate scaled to it for CPU speed.

    A hyper-parameter left at None is searched on the validation split (EASE's L2, iALS's
    regularisation and α); `auto` and `blend` record what the search found, so that a stored
    configuration retrains (or rebuilds) exactly the chosen model."""

    model: str = "neumf"  # neumf | neumf_features | gmf | mlp | mf | ease | ials | blend | auto
    embedding_dim: int = 64
    mlp_layers: tuple[int, ...] = (128, 64, 32)
    dropout: float = 0.2
    epochs: int = 50
    batch_size: int = 2048
    lr: float = 0.002
    weight_decay: float = 0.0
    l2: float = 0.0  # L2 on the embedding rows looked up in each batch (not on every row)
    num_negatives: int = 4
    patience: int = 10
    grad_clip: float = 5.0
    seed: int = 42
    eval_k: int = 10
    num_eval_negatives: int = 99
    refit_full: bool = True  # after model selection, retrain on every interaction to serve
    threads: int | None = 1  # one: spinning OpenMP threads collapse on a busy CPU (BENCHMARKS)
    device: str = "cpu"  # the SGD families' device: cpu or cuda (EASE^R and iALS fit on the CPU)
    lr_decay: float = 0.5  # ReduceLROnPlateau factor on validation NDCG
    lr_patience: int = 2
    min_lr: float = 1e-5
    confidence_weighting: bool = True  # weight positives by log-compressed confidence
    pretrain: bool = False  # NeuMF only: pre-train GMF and MLP, then fuse (He et al. §3.4.1)
    pretrain_epochs: int = 20
    gmf_init: str = "bce"  # NeuMF's GMF tower: trained alone ("bce") or from iALS ("ials")
    holdout_metrics: bool = True  # also train on the 72/8/20 split for RMSE/precision/recall
    ease_l2: float | None = None  # EASE^R's λ on the item-item weights
    id_dropout: float = 0.25  # neumf_features: a sample's id rows dropped (featured.py)
    ials_factors: int = 128
    ials_regularization: float | None = None
    ials_alpha: float | None = None  # confidence of a positive (the unobserved ones count 1)
    ials_iterations: int = 15  # at most; the best iteration on validation is kept
    candidates: tuple[str, ...] = ("ease", "ials", "neumf")  # auto: fitted cheapest first
    budget_seconds: float | None = None  # auto: no candidate starts after it is spent
    components: tuple[str, ...] = ()  # blend: the fused families, and their weights
    blend_weights: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        # Plain strings (not str subclasses such as an enum's members): an artefact's
        # `weights_only` load accepts built-in types only.
        self.model = str(self.model)
        self.candidates = tuple(str(c) for c in self.candidates)
        self.components = tuple(str(c) for c in self.components)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for name in _TUPLES:
            d[name] = list(d[name])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in known}
        for name, kind in _TUPLES.items():
            if name in kwargs:
                kwargs[name] = tuple(kind(x) for x in kwargs[name])
        return cls(**kwargs)
