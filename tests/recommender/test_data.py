"""Id maps, splits and the negative sampler."""

from __future__ import annotations

import numpy as np

from recommender_service.ml.data import (
    InteractionData,
    NegativeSampler,
    index_data,
    leave_one_out,
    ratio_split,
)


def test_index_data_maps_raw_ids_and_adds_the_item_pool() -> None:
    data = InteractionData.from_pairs(np.array([30, 10, 30]), np.array([500, 700, 700]))
    idx = index_data(data, item_pool=np.array([900]))
    assert idx.user_ids.tolist() == [10, 30]
    assert idx.item_ids.tolist() == [500, 700, 900]
    assert idx.users.tolist() == [1, 0, 1]
    assert idx.items.tolist() == [0, 1, 1]


def test_leave_one_out_holds_out_each_users_latest_row() -> None:
    users = np.array([0, 0, 0, 1, 1, 2])
    times = np.array([5, 9, 1, 3, 2, 7])
    rest, held = leave_one_out(users, times, seed=0)
    assert held.tolist() == [1, 3]  # user 2 has a single row and keeps it
    assert rest.tolist() == [0, 2, 4, 5]


def test_ratio_split_is_72_8_20_disjoint_and_deterministic() -> None:
    train, val, test = ratio_split(1000, seed=3)
    assert (len(train), len(val), len(test)) == (720, 80, 200)
    assert len(np.union1d(np.union1d(train, val), test)) == 1000
    again = ratio_split(1000, seed=3)
    assert [a.tolist() for a in again] == [train.tolist(), val.tolist(), test.tolist()]


def test_sampled_negatives_never_hit_a_positive() -> None:
    rng = np.random.default_rng(0)
    users = rng.integers(0, 50, 2000)
    items = rng.integers(0, 40, 2000)
    sampler = NegativeSampler(users, items, 40, seed=1)
    negs = sampler.sample(users, 4)
    assert negs.shape == (2000, 4)
    positives = set(zip(users.tolist(), items.tolist(), strict=True))
    assert not any((u, j) in positives for u, row in zip(users, negs, strict=True) for j in row)


def test_sampler_is_deterministic_with_a_seed() -> None:
    users, items = np.array([0, 1, 2]), np.array([0, 1, 2])
    a = NegativeSampler(users, items, 100, seed=5).sample(users, 3)
    b = NegativeSampler(users, items, 100, seed=5).sample(users, 3)
    assert a.tolist() == b.tolist()


def test_distinct_negatives_are_unique_and_padded_when_too_few() -> None:
    users = np.array([0, 0, 0, 1])
    items = np.array([0, 1, 2, 0])
    sampler = NegativeSampler(users, items, 5, seed=0)
    out = sampler.distinct(np.array([0, 1]), 3)
    assert sorted(out[0].tolist()) == [-1, 3, 4]
    assert len(set(out[1].tolist())) == 3 and 0 not in out[1].tolist()
