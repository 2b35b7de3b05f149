"""A trained model ready to serve, and its self-contained serialisation."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from .calibration import Platt
from .config import TrainConfig
from .families import build_module, probabilities
from .featured import FeatureNeuMF
from .features import FeatureSpace, Meta
from .models import item_vectors

# 2: any family of `families` (EASE, iALS, blend) and metrics that nest (the candidates of
# `auto`). 3: the feature space of `neumf_features`, and the score calibration. Versions 1
# and 2 load unchanged (their scores are mapped to 0–1 by `families.probabilities`).
FORMAT_VERSION = 3
READABLE_FORMATS = (1, 2, 3)


class TrainedModel:
    """The network plus everything needed to serve and to explain it (ids, metrics, history)."""

    def __init__(
        self,
        *,
        module: nn.Module,
        config: TrainConfig,
        user_ids: np.ndarray,
        item_ids: np.ndarray,
        metrics: dict[str, Any],
        history: list[dict],
        train_seconds: float,
        n_interactions: int,
        features: FeatureSpace | None = None,
        calibration: Platt | None = None,
    ) -> None:
        self.module = module.eval()
        self.algorithm = config.model
        self.config = config
        self.user_ids = np.asarray(user_ids, dtype=np.int64)  # sorted raw ids, index order
        self.item_ids = np.asarray(item_ids, dtype=np.int64)
        self.metrics = metrics
        self.history = history
        self.train_seconds = train_seconds
        self.n_interactions = n_interactions
        self.features = features
        self.calibration = calibration
        self._unit_items: torch.Tensor | None = None

    @property
    def uses_features(self) -> bool:
        """Scores users and papers unseen in training from their metadata (`scores_for`)."""
        return isinstance(self.module, FeatureNeuMF) and self.features is not None

    def user_index(self, user_id: int) -> int | None:
        pos = int(np.searchsorted(self.user_ids, user_id))
        return pos if pos < len(self.user_ids) and self.user_ids[pos] == user_id else None

    def item_index(self, item_id: int) -> int | None:
        pos = int(np.searchsorted(self.item_ids, item_id))
        return pos if pos < len(self.item_ids) and self.item_ids[pos] == item_id else None

    @torch.no_grad()
    def scores_for_user(self, user_id: int) -> np.ndarray | None:
        """Scores (logits) over `item_ids` in one batched forward pass; None for an unknown user."""
        index = self.user_index(user_id)
        if index is None:
            return None
        items = torch.arange(len(self.item_ids))
        users = torch.full_like(items, index)
        return self.module(users, items).numpy().astype(np.float32)

    def _item_indices(self, wanted: np.ndarray) -> np.ndarray:
        """Index of each raw id, -1 for an id unseen in training."""
        if len(self.item_ids) == 0:
            return np.full(len(wanted), -1, np.int64)
        pos = np.minimum(np.searchsorted(self.item_ids, wanted), len(self.item_ids) - 1)
        return np.where(self.item_ids[pos] == wanted, pos, -1).astype(np.int64)

    def calibrated(self, raw_scores: np.ndarray) -> np.ndarray:
        """Raw scores of this model as 0–1 (`calibration.py` says what the number means);
        artefacts older than the calibration map them by `families.probabilities`."""
        if self.calibration is None:
            return probabilities(self.algorithm)(np.asarray(raw_scores, np.float64))
        return self.calibration(raw_scores)

    @torch.no_grad()
    def scores_for(
        self,
        user_id: int | None,
        item_ids: np.ndarray,
        *,
        user_meta: Meta | None = None,
        item_meta: Mapping[int, Meta] | None = None,
    ) -> np.ndarray | None:
        """Raw scores of `item_ids` (raw ids, any order) for a user, known or not.

        With `uses_features`, a user or item unseen in training (or `user_id` None) is scored
        from its metadata: `user_meta` ({"niveau": "L2", "filiere": "MATH"}), `item_meta[id]`
        (the read model's filiere, niveau, matiere, type, annee). Without, an unknown user gives
        None and an unknown item NaN."""
        wanted = np.asarray(item_ids, np.int64)
        item_index = self._item_indices(wanted)
        user = None if user_id is None else self.user_index(user_id)
        if not self.uses_features:
            if user is None:
                return None
            out = np.full(len(wanted), np.nan, np.float32)
            known = item_index >= 0
            u = torch.full((int(known.sum()),), user)
            out[known] = self.module(u, torch.from_numpy(item_index[known])).numpy()
            return out
        assert isinstance(self.module, FeatureNeuMF) and self.features is not None
        space, metas = self.features, item_meta or {}
        item_codes = space.items.codes[np.maximum(item_index, 0)]
        cold = np.flatnonzero(item_index < 0)
        if len(cold):
            item_codes[cold] = space.encode_items(metas.get(int(wanted[j])) for j in cold)
        known_user = user is not None
        user_codes = space.users.codes[user] if known_user else space.encode_users([user_meta])[0]
        n = len(wanted)
        scores = self.module.score_pairs(
            torch.full((n,), -1 if user is None else user),
            torch.from_numpy(np.broadcast_to(user_codes, (n, len(user_codes))).copy()),
            torch.from_numpy(item_index),
            torch.from_numpy(item_codes),
        )
        return scores.numpy().astype(np.float32)

    def _unit_item_vectors(self) -> torch.Tensor:
        if self._unit_items is None:
            with torch.no_grad():
                v = item_vectors(self.module).detach().float()
                self._unit_items = v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return self._unit_items

    def unit_item_vectors(self) -> np.ndarray:
        """The item embeddings scaled to unit length, in `item_ids` order (cosine = dot)."""
        return self._unit_item_vectors().numpy()

    def similar_items(
        self, item_id: int, k: int, *, candidates: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Top-k (raw id, cosine) by learned item embeddings, the item itself excluded."""
        index = self.item_index(item_id)
        if index is None or k <= 0:
            return []
        unit = self._unit_item_vectors()
        sims = (unit @ unit[index]).numpy()
        if candidates is None:
            pool = np.arange(len(self.item_ids))
        else:
            wanted = np.asarray(candidates, dtype=np.int64)
            pos = np.searchsorted(self.item_ids, wanted)
            known = pos < len(self.item_ids)
            known[known] = self.item_ids[pos[known]] == wanted[known]
            pool = np.unique(pos[known])
        pool = pool[pool != index]
        order = pool[np.argsort(-sims[pool], kind="stable")[:k]]
        return [(int(self.item_ids[j]), float(sims[j])) for j in order]

    def to_bytes(self) -> bytes:
        payload: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "config": self.config.to_dict(),
            "state_dict": self.module.state_dict(),
            "user_ids": torch.from_numpy(self.user_ids),
            "item_ids": torch.from_numpy(self.item_ids),
            "metrics": _plain(self.metrics),
            "history": self.history,
            "train_seconds": float(self.train_seconds),
            "n_interactions": int(self.n_interactions),
            "features": None if self.features is None else self.features.to_dict(),
            "calibration": None if self.calibration is None else self.calibration.to_dict(),
        }
        buf = io.BytesIO()
        torch.save(payload, buf)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> TrainedModel:
        payload = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
        if payload.get("format") not in READABLE_FORMATS:
            raise ValueError(f"unsupported model artefact format {payload.get('format')!r}")
        config = TrainConfig.from_dict(payload["config"])
        user_ids = payload["user_ids"].numpy()
        item_ids = payload["item_ids"].numpy()
        features = payload.get("features")
        space = None if features is None else FeatureSpace.from_dict(features)
        calibration = payload.get("calibration")
        module = build_module(config, len(user_ids), len(item_ids), space)
        module.load_state_dict(payload["state_dict"])
        return cls(
            module=module,
            config=config,
            user_ids=user_ids,
            item_ids=item_ids,
            metrics=payload["metrics"],
            history=payload["history"],
            train_seconds=payload["train_seconds"],
            n_interactions=payload["n_interactions"],
            features=space,
            calibration=None if calibration is None else Platt.from_dict(calibration),
        )


def _plain(value: Any) -> Any:
    """Metrics as built-in floats, strings, lists and dicts (what `weights_only` loads)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool | str) or value is None:
        return value
    return float(value)
