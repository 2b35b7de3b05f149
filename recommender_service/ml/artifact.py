"""A trained model ready to serve, and its self-contained serialisation."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from .config import TrainConfig
from .models import build_model

FORMAT_VERSION = 1


class TrainedModel:
    """The network plus everything needed to serve and to explain it (ids, metrics, history)."""

    def __init__(
        self,
        *,
        module: nn.Module,
        config: TrainConfig,
        user_ids: np.ndarray,
        item_ids: np.ndarray,
        metrics: dict[str, float],
        history: list[dict],
        train_seconds: float,
        n_interactions: int,
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
        self._unit_items: torch.Tensor | None = None

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

    def _unit_item_vectors(self) -> torch.Tensor:
        if self._unit_items is None:
            with torch.no_grad():
                item_vectors = cast("Callable[[], torch.Tensor]", self.module.item_vectors)
                v = item_vectors().detach().float()
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
            "metrics": {k: float(v) for k, v in self.metrics.items()},
            "history": self.history,
            "train_seconds": float(self.train_seconds),
            "n_interactions": int(self.n_interactions),
        }
        buf = io.BytesIO()
        torch.save(payload, buf)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> TrainedModel:
        payload = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
        if payload.get("format") != FORMAT_VERSION:
            raise ValueError(f"unsupported model artefact format {payload.get('format')!r}")
        config = TrainConfig.from_dict(payload["config"])
        user_ids = payload["user_ids"].numpy()
        item_ids = payload["item_ids"].numpy()
        module = build_model(
            config.model,
            len(user_ids),
            len(item_ids),
            embedding_dim=config.embedding_dim,
            mlp_layers=config.mlp_layers,
            dropout=config.dropout,
        )
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
        )
