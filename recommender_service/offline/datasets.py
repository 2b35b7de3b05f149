"""Public benchmark data sets as (train pairs, ranking tasks), format detected from the folder.

- `ncf-ml-1m/` (He et al.'s files): `ml-1m.test.rating` + `ml-1m.test.negative` give each user's
  held-out item and its 99 negatives; the training pairs come from `ml-1m.train.rating` when
  present, else the rebuilt `ml-1m.train.rating.reconstructed.gz`. Ids are already 0-based.
- `ml-100k/` (GroupLens `u.data`): every rating is an implicit positive; each user's latest
  rating (by timestamp) is the test item, with 99 negatives drawn with the seed among the items
  the user never rated.
In both, the validation item for early stopping and model selection is held out of the training
pairs the same way (the latest remaining one; at random where timestamps are placeholders), and
its negatives are drawn among the items the user has no training pair with: nothing about the
test items (not even which they are) reaches the validation task.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recommender_service.ml.data import NegativeSampler, leave_one_out
from recommender_service.ml.evaluation import RankingTask
from recommender_service.ml.features import SideInfo

from .side_info import has_ml1m_side, ml1m_side

NCF_TEST = "ml-1m.test.rating"
NCF_NEGATIVES = "ml-1m.test.negative"
NCF_TRAIN = ("ml-1m.train.rating", "ml-1m.train.rating.reconstructed.gz")
ML100K_RATINGS = "u.data"


@dataclass(frozen=True)
class BenchmarkData:
    name: str
    n_users: int
    n_items: int
    train_users: np.ndarray  # training pairs without the validation items
    train_items: np.ndarray
    full_users: np.ndarray  # every training pair (for the baselines, which need no validation)
    full_items: np.ndarray
    validation: RankingTask
    test: RankingTask
    train_file: str
    side: SideInfo | None = None  # users' and items' metadata by index, where the set has it

    @property
    def n_train(self) -> int:
        return len(self.train_users)


def detect_format(path: Path) -> str:
    if (path / NCF_NEGATIVES).exists():
        return "ncf"
    if (path / ML100K_RATINGS).exists():
        return "ml-100k"
    raise ValueError(
        f"{path}: neither NCF files ({NCF_NEGATIVES}) nor MovieLens ({ML100K_RATINGS})"
    )


def load(path: Path, seed: int = 42, num_negatives: int = 99) -> BenchmarkData:
    path = Path(path)
    if detect_format(path) == "ncf":
        return load_ncf(path, seed)
    return load_ml100k(path, seed, num_negatives)


def _int_table(raw: bytes, columns: int) -> np.ndarray:
    return np.array(raw.split(), dtype=np.int64).reshape(-1, columns)


def read_rating_file(file: Path) -> np.ndarray:
    """`user\\titem\\trating\\ttimestamp` lines (plain or gzip) as an (n, 4) int64 array."""
    opener = gzip.open if file.suffix == ".gz" else open
    with opener(file, "rb") as fh:
        return _int_table(fh.read(), 4)


def read_negative_file(file: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(user,item)\\tneg1\\tneg2…` lines: users, held-out items, (n, 99) negatives."""
    users, items, negatives = [], [], []
    for line in file.read_text().splitlines():
        head, *rest = line.rstrip("\t").split("\t")
        user, item = head.strip("()").split(",")
        users.append(int(user))
        items.append(int(item))
        negatives.append([int(x) for x in rest])
    return np.array(users), np.array(items), np.array(negatives, dtype=np.int64)


def _validation_split(
    users: np.ndarray, items: np.ndarray, times: np.ndarray, sampler: NegativeSampler, seed: int
) -> tuple[np.ndarray, np.ndarray, RankingTask]:
    rest, val = leave_one_out(users, times, seed)
    task = RankingTask.sample(users[val], items[val], sampler, 99)
    return users[rest], items[rest], task


def load_ncf(path: Path, seed: int = 42) -> BenchmarkData:
    train_file = next(path / name for name in NCF_TRAIN if (path / name).exists())
    train = read_rating_file(train_file)
    test_rows = read_rating_file(path / NCF_TEST)
    t_users, t_items, negatives = read_negative_file(path / NCF_NEGATIVES)
    if not (np.array_equal(t_users, test_rows[:, 0]) and np.array_equal(t_items, test_rows[:, 1])):
        raise ValueError(f"{path}: {NCF_TEST} and {NCF_NEGATIVES} disagree")
    n_users = int(max(train[:, 0].max(), t_users.max())) + 1
    n_items = int(max(train[:, 1].max(), t_items.max(), negatives.max())) + 1
    users, items = train[:, 0], train[:, 1]
    seen = NegativeSampler(users, items, n_items, seed)
    fit_users, fit_items, validation = _validation_split(users, items, train[:, 3], seen, seed)
    test = RankingTask(t_users, np.concatenate([t_items[:, None], negatives], axis=1))
    return BenchmarkData(
        "ncf-ml-1m",
        n_users,
        n_items,
        fit_users,
        fit_items,
        users,
        items,
        validation,
        test,
        train_file.name,
        ml1m_side(path) if has_ml1m_side(path) else None,
    )


def load_ml100k(path: Path, seed: int = 42, num_negatives: int = 99) -> BenchmarkData:
    ratings = _int_table((path / ML100K_RATINGS).read_bytes(), 4)
    user_ids, users = np.unique(ratings[:, 0], return_inverse=True)
    item_ids, items = np.unique(ratings[:, 1], return_inverse=True)
    users, items, times = users.reshape(-1), items.reshape(-1), ratings[:, 3]
    every = NegativeSampler(users, items, len(item_ids), seed)
    rest, held = leave_one_out(users, times, seed)
    test = RankingTask.sample(users[held], items[held], every, num_negatives)
    seen = NegativeSampler(users[rest], items[rest], len(item_ids), seed + 1)
    fit_users, fit_items, validation = _validation_split(
        users[rest], items[rest], times[rest], seen, seed + 1
    )
    return BenchmarkData(
        "ml-100k",
        len(user_ids),
        len(item_ids),
        fit_users,
        fit_items,
        users[rest],
        items[rest],
        validation,
        test,
        ML100K_RATINGS,
    )
