"""Interaction data, id maps, splits and the vectorised negative sampler."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from .features import FeatureSpace


@dataclass(frozen=True)
class InteractionData:
    """One row per observed (user, item) pair, with raw ids as the service knows them."""

    user_ids: np.ndarray  # int64 raw ids
    item_ids: np.ndarray  # int64 raw ids
    confidence: np.ndarray  # float32, > 0
    timestamps: np.ndarray  # int64 unix seconds of the latest interaction

    def __post_init__(self) -> None:
        n = len(self.user_ids)
        if not (len(self.item_ids) == len(self.confidence) == len(self.timestamps) == n):
            raise ValueError("InteractionData columns must have the same length")

    def __len__(self) -> int:
        return len(self.user_ids)

    @classmethod
    def empty(cls) -> InteractionData:
        i64 = np.zeros(0, dtype=np.int64)
        return cls(i64, i64.copy(), np.zeros(0, dtype=np.float32), i64.copy())

    @classmethod
    def from_pairs(
        cls, users: np.ndarray, items: np.ndarray, timestamps: np.ndarray | None = None
    ) -> InteractionData:
        users = np.asarray(users, dtype=np.int64)
        times = np.zeros(len(users), np.int64) if timestamps is None else timestamps
        return cls(
            users,
            np.asarray(items, dtype=np.int64),
            np.ones(len(users), dtype=np.float32),
            np.asarray(times, dtype=np.int64),
        )


@dataclass(frozen=True)
class IndexedData:
    """Interactions in dense 0-based indices, with the raw ids in index order."""

    user_ids: np.ndarray  # raw id of user index u
    item_ids: np.ndarray  # raw id of item index i
    users: np.ndarray  # int64 index per row
    items: np.ndarray  # int64 index per row
    confidence: np.ndarray
    timestamps: np.ndarray
    features: FeatureSpace | None = None  # side features in index order (neumf_features)

    @classmethod
    def dense(cls, users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> IndexedData:
        """Pairs already in 0-based ids (benchmark files): ids are indices, confidence 1."""
        n = len(users)
        return cls(
            np.arange(n_users),
            np.arange(n_items),
            np.asarray(users, np.int64),
            np.asarray(items, np.int64),
            np.ones(n, np.float32),
            np.zeros(n, np.int64),
        )

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def subset(self, rows: np.ndarray) -> IndexedData:
        """The same id space (and features), fewer rows."""
        return replace(
            self,
            users=self.users[rows],
            items=self.items[rows],
            confidence=self.confidence[rows],
            timestamps=self.timestamps[rows],
        )


def interaction_matrix(data: IndexedData, values: np.ndarray | None = None) -> sp.csr_matrix:
    """Users × items CSR of the pairs (1, or `values`); duplicate pairs are summed."""
    ones = np.ones(len(data.users), np.float32) if values is None else values
    x = sp.csr_matrix((ones, (data.users, data.items)), shape=(data.n_users, data.n_items))
    x.sum_duplicates()
    x.sort_indices()
    return x


def index_data(data: InteractionData, item_pool: np.ndarray | None = None) -> IndexedData:
    """Map raw ids to 0-based indices; `item_pool` adds items nobody has interacted with yet."""
    user_ids, users = np.unique(data.user_ids, return_inverse=True)
    pool = data.item_ids if item_pool is None else np.concatenate([data.item_ids, item_pool])
    item_ids = np.unique(np.asarray(pool, dtype=np.int64))
    items = np.searchsorted(item_ids, data.item_ids)
    return IndexedData(
        user_ids.astype(np.int64),
        item_ids,
        users.reshape(-1).astype(np.int64),
        items.astype(np.int64),
        np.asarray(data.confidence, dtype=np.float32),
        np.asarray(data.timestamps, dtype=np.int64),
    )


def leave_one_out(
    users: np.ndarray, timestamps: np.ndarray, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (rest, held_out): each user's latest row is held out (NCF protocol).

    Users with a single row keep it for training. Ties on the timestamp are broken at random
    with the seed, so the split is deterministic.
    """
    n = len(users)
    tiebreak = np.random.default_rng(seed).random(n)
    order = np.lexsort((tiebreak, timestamps, users))  # by user, then time, then tie-break
    sorted_users = users[order]
    is_last = np.ones(n, dtype=bool)
    is_last[:-1] = sorted_users[1:] != sorted_users[:-1]
    counts = np.bincount(users)
    held = order[is_last & (counts[sorted_users] > 1)]
    rest = np.setdiff1d(np.arange(n), held, assume_unique=True)
    return rest, np.sort(held)


def ratio_split(
    n: int, seed: int, fractions: tuple[float, float, float] = (0.72, 0.08, 0.20)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices (train, validation, test): the reference system's random 72/8/20 split."""
    perm = np.random.default_rng(seed).permutation(n)
    n_train = round(n * fractions[0])
    n_val = round(n * fractions[1])
    train, val, test = np.split(perm, [n_train, n_train + n_val])
    return np.sort(train), np.sort(val), np.sort(test)


class NegativeSampler:
    """Uniform negatives that reject the user's positives, drawn in bulk with numpy.

    Positives are kept as a sorted array of keys `user * n_items + item`; membership of a whole
    batch of candidates is one `searchsorted`, and rejected draws are redrawn together.
    """

    def __init__(self, users: np.ndarray, items: np.ndarray, n_items: int, seed: int) -> None:
        self.n_items = n_items
        self.keys = np.unique(users.astype(np.int64) * n_items + items.astype(np.int64))
        self.rng = np.random.default_rng(seed)

    def is_positive(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        keys = users.astype(np.int64) * self.n_items + items
        pos = np.searchsorted(self.keys, keys)
        pos[pos == len(self.keys)] = 0
        return self.keys[pos] == keys if len(self.keys) else np.zeros(len(keys), bool)

    def sample(self, users: np.ndarray, per_user: int) -> np.ndarray:
        """(len(users), per_user) items the user has no positive with (repeats allowed)."""
        flat_users = np.repeat(users.astype(np.int64), per_user)
        items = self.rng.integers(0, self.n_items, size=len(flat_users))
        bad = np.flatnonzero(self.is_positive(flat_users, items))
        for _ in range(100):
            if len(bad) == 0:
                break
            items[bad] = self.rng.integers(0, self.n_items, size=len(bad))
            bad = bad[self.is_positive(flat_users[bad], items[bad])]
        return items.reshape(len(users), per_user)

    def distinct(self, users: np.ndarray, count: int) -> np.ndarray:
        """(len(users), count) distinct negatives per user; -1 pads a user with too few."""
        out = np.full((len(users), count), -1, dtype=np.int64)
        all_items = np.arange(self.n_items)
        for row, user in enumerate(users):
            lo, hi = np.searchsorted(self.keys, [user * self.n_items, (user + 1) * self.n_items])
            free = np.setdiff1d(all_items, self.keys[lo:hi] - user * self.n_items)
            take = min(count, len(free))
            out[row, :take] = self.rng.choice(free, size=take, replace=False)
        return out
