"""Side features (metadata) of users and items, as the feature-aware model reads them.

Every (field, value) pair is a token, "filiere=MATH" or "genre=Comedy"; an entity is the bag of
its tokens (a field may hold several values: a film's genres). Tokens are numbered per side from
1 in sorted order, 0 pads a short bag, and a token the training entities never had is dropped
(it has no trained embedding): a new paper of a new matière is represented by its other fields.
The space is built from the training entities alone and stored with the model, so that an
entity unseen in training is encoded exactly as the model's own ones were.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

FeatureValue = str | int | Sequence[str]
Meta = Mapping[str, FeatureValue | None]  # one entity's metadata: field -> value(s)
Metadata = Mapping[int, Meta]  # raw id -> metadata

# The catalogue's fields (the read model's columns, DESIGN §4).
USER_FIELDS = ("niveau", "filiere")
ITEM_FIELDS = ("filiere", "niveau", "matiere", "type", "annee")


def tokens(meta: Meta | None) -> list[str]:
    """The entity's "field=value" tokens; empty and None values carry nothing."""
    out: list[str] = []
    for field, value in (meta or {}).items():
        values = [value] if isinstance(value, str | int) else list(value or ())
        out += [f"{field}={v}" for v in values if v not in (None, "")]
    return out


@dataclass(frozen=True)
class SideInfo:
    """The metadata of users and items by raw id, as the read model or a data set holds it."""

    users: Metadata
    items: Metadata


@dataclass(frozen=True)
class Side:
    """One side's vocabulary and the (n_entities, width) token codes of its trained entities."""

    vocab: tuple[str, ...]
    codes: np.ndarray  # int64, 0 = padding

    @classmethod
    def build(cls, metas: Sequence[Meta | None]) -> Side:
        bags = [tokens(m) for m in metas]
        vocab = tuple(sorted({t for bag in bags for t in bag}))
        side = cls(vocab, np.zeros((0, 1), np.int64))
        return cls(vocab, side.encode(metas))

    @property
    def size(self) -> int:
        """Embedding rows needed: the tokens plus the padding row."""
        return len(self.vocab) + 1

    def encode(self, metas: Iterable[Meta | None], width: int | None = None) -> np.ndarray:
        """(len(metas), width) codes; the width defaults to this side's (at least 1)."""
        number = {t: i + 1 for i, t in enumerate(self.vocab)}
        bags = [[number[t] for t in tokens(m) if t in number] for m in metas]
        width = width or max(self.codes.shape[1], max(map(len, bags), default=0), 1)
        out = np.zeros((len(bags), width), np.int64)
        for row, bag in enumerate(bags):
            out[row, : min(len(bag), width)] = bag[:width]
        return out


@dataclass(frozen=True)
class FeatureSpace:
    """Both sides, rows in the model's index order (user index u is row u of `users.codes`)."""

    users: Side
    items: Side

    @classmethod
    def build(cls, user_ids: np.ndarray, item_ids: np.ndarray, side: SideInfo) -> FeatureSpace:
        """From raw-id metadata; ids without metadata get an empty bag."""
        return cls(
            Side.build([side.users.get(int(u)) for u in user_ids]),
            Side.build([side.items.get(int(i)) for i in item_ids]),
        )

    @classmethod
    def empty(cls, n_users: int, n_items: int) -> FeatureSpace:
        """No feature at all: the feature model's own ablation (an id-only model)."""
        return cls(
            Side((), np.zeros((n_users, 1), np.int64)), Side((), np.zeros((n_items, 1), np.int64))
        )

    def encode_users(self, metas: Iterable[Meta | None]) -> np.ndarray:
        return self.users.encode(metas, self.users.codes.shape[1])

    def encode_items(self, metas: Iterable[Meta | None]) -> np.ndarray:
        return self.items.encode(metas, self.items.codes.shape[1])

    def to_dict(self) -> dict[str, Any]:
        """Built-in types and tensors only (what an artefact's `weights_only` load accepts)."""
        return {
            "user_vocab": list(self.users.vocab),
            "item_vocab": list(self.items.vocab),
            "user_codes": torch.from_numpy(self.users.codes),
            "item_codes": torch.from_numpy(self.items.codes),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureSpace:
        return cls(
            Side(tuple(d["user_vocab"]), d["user_codes"].numpy()),
            Side(tuple(d["item_vocab"]), d["item_codes"].numpy()),
        )
