"""NeuMF with side features (`neumf_features`): each of its four embedding lookups (user and
item, in the GMF and in the MLP tower) is the id's row plus the sum of its features' rows, as in
LightFM (Kula, 2015). An entity the model never saw (a paper uploaded after training, a student
enrolled in September) has no id row: it is represented by its features alone.

Training drops each sample's id row with probability `id_dropout` (DropoutNet, Volkovs et al.
2017), so that the features alone must predict too: without it the id rows, which fit the
training pairs better, absorb the signal and the feature-only path of a new entity is left weak.
"""

from __future__ import annotations

import torch
from torch import nn

from .features import FeatureSpace
from .models import NeuMF


class FeaturedEmbedding(nn.Embedding):
    """An id embedding (its `weight`) plus a feature embedding bag; indices in, vectors out.

    A subclass of `nn.Embedding` so that the trainer's L2 on the rows a batch touches, and every
    `module(index)` caller, see the whole representation."""

    def __init__(self, n: int, dim: int, codes: torch.Tensor, n_tokens: int, id_dropout: float):
        super().__init__(n, dim)
        nn.init.normal_(self.weight, std=0.01)
        self.features = nn.Embedding(n_tokens, dim, padding_idx=0)
        nn.init.normal_(self.features.weight, std=0.01)
        with torch.no_grad():
            self.features.weight[0].zero_()
        self.id_dropout = id_dropout
        self.codes: torch.Tensor
        # Not in the state dict: the artefact stores the feature space once, and rebuilds this.
        self.register_buffer("codes", codes.long(), persistent=False)

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        ids = super().forward(index)
        if self.training and self.id_dropout > 0:
            keep = torch.rand(index.shape, device=ids.device) >= self.id_dropout
            ids = ids * keep.unsqueeze(-1)
        return ids + self.features(self.codes[index]).sum(-2)

    def lookup(self, index: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Vectors of entities given by index (-1: unseen in training, no id row) and codes."""
        known = (index >= 0).unsqueeze(-1)
        ids = super().forward(index.clamp_min(0)) * known
        return ids + self.features(codes).sum(-2)

    def all_vectors(self) -> torch.Tensor:
        return self.weight + self.features(self.codes).sum(-2)


class FeatureNeuMF(NeuMF):
    def __init__(
        self,
        features: FeatureSpace,
        dim: int,
        layers: tuple[int, ...],
        dropout: float,
        id_dropout: float,
    ) -> None:
        n_users, n_items = len(features.users.codes), len(features.items.codes)
        super().__init__(n_users, n_items, dim, layers, dropout)
        users = torch.from_numpy(features.users.codes)
        items = torch.from_numpy(features.items.codes)
        for tower, width in ((self.gmf, dim), (self.mlp, layers[0] // 2)):
            tower.user = FeaturedEmbedding(n_users, width, users, features.users.size, id_dropout)
            tower.item = FeaturedEmbedding(n_items, width, items, features.items.size, id_dropout)

    def _sides(
        self,
    ) -> tuple[FeaturedEmbedding, FeaturedEmbedding, FeaturedEmbedding, FeaturedEmbedding]:
        parts = (self.gmf.user, self.gmf.item, self.mlp.user, self.mlp.item)
        assert all(isinstance(p, FeaturedEmbedding) for p in parts)
        return parts  # type: ignore[return-value]

    def score_pairs(
        self,
        users: torch.Tensor,
        user_codes: torch.Tensor,
        items: torch.Tensor,
        item_codes: torch.Tensor,
    ) -> torch.Tensor:
        """Logits of (user, item) pairs given by index (-1 when unseen) and feature codes."""
        gmf_user, gmf_item, mlp_user, mlp_item = self._sides()
        gmf = self.gmf.combine(
            gmf_user.lookup(users, user_codes), gmf_item.lookup(items, item_codes)
        )
        mlp = self.mlp.combine(
            mlp_user.lookup(users, user_codes), mlp_item.lookup(items, item_codes)
        )
        return self.fuse(gmf, mlp)

    def item_vectors(self) -> torch.Tensor:
        """Whole representations (id and features): papers close in features are close here."""
        _, gmf_item, _, mlp_item = self._sides()
        return torch.cat([gmf_item.all_vectors(), mlp_item.all_vectors()], dim=-1)
