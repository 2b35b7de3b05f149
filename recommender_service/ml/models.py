"""NCF models (He et al., WWW'17) and a dot-product MF baseline: `nn.Module`s without I/O.

Every model maps (user index, item index) tensors to a logit and exposes `item_vectors()`, the
learned item embeddings used for "similar items".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import torch
from torch import nn

MODEL_NAMES = ("neumf", "gmf", "mlp", "mf")


def item_vectors(module: nn.Module) -> torch.Tensor:
    """The item representation of any family's module (`nn.Module` does not declare it)."""
    method = cast("Callable[[], torch.Tensor]", module.item_vectors)
    return method()


def _embedding(n: int, dim: int, std: float = 0.01) -> nn.Embedding:
    emb = nn.Embedding(n, dim)
    nn.init.normal_(emb.weight, std=std)
    return emb


def _tower(in_dim: int, layers: tuple[int, ...], dropout: float) -> nn.Sequential:
    """MLP tower: Linear + ReLU (+ dropout) per layer, Xavier-initialised."""
    blocks: list[nn.Module] = []
    for width in layers:
        linear = nn.Linear(in_dim, width)
        nn.init.xavier_uniform_(linear.weight)
        nn.init.zeros_(linear.bias)
        blocks += [linear, nn.ReLU()]
        if dropout > 0:
            blocks.append(nn.Dropout(dropout))
        in_dim = width
    return nn.Sequential(*blocks)


def _head(in_dim: int) -> nn.Linear:
    head = nn.Linear(in_dim, 1)
    nn.init.xavier_uniform_(head.weight)
    nn.init.zeros_(head.bias)
    return head


class GMF(nn.Module):
    """Generalised MF: a learned weighting of the element-wise product of the embeddings."""

    def __init__(self, n_users: int, n_items: int, dim: int) -> None:
        super().__init__()
        self.user = _embedding(n_users, dim)
        self.item = _embedding(n_items, dim)
        self.head = _head(dim)

    def features(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.combine(self.user(users), self.item(items))

    def combine(self, user: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        """The interaction features of user and item vectors (not indices)."""
        return user * item

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(users, items)).squeeze(-1)

    def item_vectors(self) -> torch.Tensor:
        return self.item.weight


class MLP(nn.Module):
    """Concatenated user and item embeddings through a ReLU tower (first layer = 2 × emb)."""

    def __init__(self, n_users: int, n_items: int, layers: tuple[int, ...], dropout: float) -> None:
        super().__init__()
        dim = layers[0] // 2
        self.user = _embedding(n_users, dim)
        self.item = _embedding(n_items, dim)
        self.tower = _tower(2 * dim, tuple(layers[1:]), dropout)
        self.out_dim = layers[-1] if len(layers) > 1 else 2 * dim
        self.head = _head(self.out_dim)

    def features(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.combine(self.user(users), self.item(items))

    def combine(self, user: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        return self.tower(torch.cat([user, item], dim=-1))

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(users, items)).squeeze(-1)

    def item_vectors(self) -> torch.Tensor:
        return self.item.weight


class NeuMF(nn.Module):
    """GMF and MLP with separate embeddings, fused by one output layer over both features."""

    def __init__(
        self, n_users: int, n_items: int, dim: int, layers: tuple[int, ...], dropout: float
    ) -> None:
        super().__init__()
        self.gmf = GMF(n_users, n_items, dim)
        self.mlp = MLP(n_users, n_items, layers, dropout)
        self.head = _head(dim + self.mlp.out_dim)
        # The sub-models' own heads are used only when pre-trained weights are loaded.
        self.gmf.head.requires_grad_(False)
        self.mlp.head.requires_grad_(False)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.fuse(self.gmf.features(users, items), self.mlp.features(users, items))

    def fuse(self, gmf: torch.Tensor, mlp: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([gmf, mlp], -1)).squeeze(-1)

    def item_vectors(self) -> torch.Tensor:
        return torch.cat([self.gmf.item.weight, self.mlp.item.weight], dim=-1)

    @torch.no_grad()
    def load_pretrained(self, gmf: GMF, mlp: MLP, alpha: float = 0.5) -> None:
        """The paper's initialisation: both towers' weights, heads concatenated (α, 1 − α)."""
        self.gmf.load_state_dict(gmf.state_dict())
        self.mlp.load_state_dict(mlp.state_dict())
        self.head.weight.copy_(
            torch.cat([alpha * gmf.head.weight, (1 - alpha) * mlp.head.weight], dim=-1)
        )
        self.head.bias.copy_(alpha * gmf.head.bias + (1 - alpha) * mlp.head.bias)


class MF(nn.Module):
    """Dot product with user, item and global biases (Rendle et al. 2020's strong baseline)."""

    def __init__(self, n_users: int, n_items: int, dim: int) -> None:
        super().__init__()
        self.user = _embedding(n_users, dim)
        self.item = _embedding(n_items, dim)
        self.user_bias = nn.Embedding(n_users, 1)
        self.item_bias = nn.Embedding(n_items, 1)
        nn.init.zeros_(self.user_bias.weight)
        nn.init.zeros_(self.item_bias.weight)
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        dot = (self.user(users) * self.item(items)).sum(-1)
        return (
            dot + self.user_bias(users).squeeze(-1) + self.item_bias(items).squeeze(-1) + self.bias
        )

    def item_vectors(self) -> torch.Tensor:
        return self.item.weight


def build_model(
    name: str,
    n_users: int,
    n_items: int,
    *,
    embedding_dim: int,
    mlp_layers: tuple[int, ...],
    dropout: float,
) -> nn.Module:
    if name == "neumf":
        return NeuMF(n_users, n_items, embedding_dim, mlp_layers, dropout)
    if name == "gmf":
        return GMF(n_users, n_items, embedding_dim)
    if name == "mlp":
        return MLP(n_users, n_items, mlp_layers, dropout)
    if name == "mf":
        return MF(n_users, n_items, embedding_dim)
    raise ValueError(f"unknown model {name!r}; expected one of {MODEL_NAMES}")
