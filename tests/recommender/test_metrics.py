"""Metric functions against hand-computed cases and their defining properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from recommender_service.ml import metrics


def test_rank_counts_candidates_scored_strictly_higher() -> None:
    scores = np.array([[0.5, 0.9, 0.1, 0.7], [0.9, 0.1, 0.2, 0.3]])
    assert metrics.rank_of_positive(scores).tolist() == [2, 0]


def test_rank_splits_ties_in_half_rounded_down() -> None:
    scores = np.array([[1.0, 1.0, 1.0, 1.0, 1.0], [2.0, 2.0, 5.0, 0.0, 0.0]])
    assert metrics.rank_of_positive(scores).tolist() == [2, 1]


def test_rank_ignores_masked_padding() -> None:
    scores = np.array([[0.1, 0.9, 0.8]])
    mask = np.array([[True, True, False]])
    assert metrics.rank_of_positive(scores, mask).tolist() == [1]


def test_hit_ratio_and_ndcg_on_hand_computed_ranks() -> None:
    ranks = np.array([0, 1, 9, 10, 50])
    assert metrics.hit_ratio_at_k(ranks, 10) == pytest.approx(3 / 5)
    expected = (1.0 + 1.0 / math.log2(3) + 1.0 / math.log2(11)) / 5
    assert metrics.ndcg_at_k(ranks, 10) == pytest.approx(expected)


def test_precision_and_recall_on_hand_computed_lists() -> None:
    recommended = np.array([[1, 2, 3, 4], [5, 6, 7, -1]])
    relevant = [{2, 4, 9}, {8}]
    # user 0: top-2 = {1, 2} → 1 hit; user 1: top-2 = {5, 6} → 0 hits
    assert metrics.precision_at_k(recommended, relevant, 2) == pytest.approx((1 / 2 + 0) / 2)
    assert metrics.recall_at_k(recommended, relevant, 2) == pytest.approx((1 / 3 + 0) / 2)
    assert metrics.precision_at_k(recommended, relevant, 4) == pytest.approx((2 / 4 + 0) / 2)
    assert metrics.recall_at_k(recommended, relevant, 4) == pytest.approx((2 / 3 + 0) / 2)


def test_recall_skips_users_without_relevant_items() -> None:
    assert metrics.recall_at_k(np.array([[1], [2]]), [{1}, set()], 1) == 1.0


def test_rmse_and_mse_on_hand_computed_values() -> None:
    assert metrics.mse(np.array([1.0, 0.0, 0.5]), np.array([1.0, 1.0, 0.0])) == pytest.approx(
        (0 + 1 + 0.25) / 3
    )
    assert metrics.rmse(np.array([0.0, 0.0]), np.array([3.0, 4.0])) == pytest.approx(
        math.sqrt(12.5)
    )


def test_coverage_counts_distinct_recommended_items() -> None:
    assert metrics.coverage(np.array([[0, 1], [1, 2], [2, -1]]), 10) == pytest.approx(0.3)


score_rows = arrays(
    np.float64,
    st.tuples(st.integers(1, 20), st.integers(2, 30)),
    elements=st.floats(-1e3, 1e3, allow_nan=False),
)


@settings(max_examples=60, deadline=None)
@given(score_rows, st.integers(1, 30))
def test_hit_ratio_and_ndcg_lie_in_unit_interval_with_ndcg_below_hr(scores, k) -> None:
    ranks = metrics.rank_of_positive(scores)
    hr, ndcg = metrics.hit_ratio_at_k(ranks, k), metrics.ndcg_at_k(ranks, k)
    assert 0.0 <= ndcg <= hr <= 1.0


@settings(max_examples=60, deadline=None)
@given(score_rows, st.randoms(use_true_random=False))
def test_rank_is_invariant_to_the_order_of_the_negatives(scores, rnd) -> None:
    perm = list(range(1, scores.shape[1]))
    rnd.shuffle(perm)
    shuffled = scores[:, [0, *perm]]
    assert metrics.rank_of_positive(shuffled).tolist() == metrics.rank_of_positive(scores).tolist()


@settings(max_examples=60, deadline=None)
@given(score_rows, st.integers(1, 30))
def test_a_perfect_ranking_scores_one(scores, k) -> None:
    perfect = scores.copy()
    perfect[:, 0] = scores.max() + 1.0
    ranks = metrics.rank_of_positive(perfect)
    assert metrics.hit_ratio_at_k(ranks, k) == 1.0
    assert metrics.ndcg_at_k(ranks, k) == 1.0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 40), min_size=5, max_size=5, unique=True), min_size=1),
    st.integers(1, 5),
)
def test_precision_recall_bounds_and_perfect_lists(lists, k) -> None:
    recommended = np.array(lists)
    relevant = [set(row[:k]) for row in lists]
    assert metrics.precision_at_k(recommended, relevant, k) == 1.0
    assert metrics.recall_at_k(recommended, relevant, k) == 1.0
    other = [{100 + i} for i in range(len(lists))]
    assert metrics.precision_at_k(recommended, other, k) == 0.0
    assert 0.0 <= metrics.coverage(recommended, 41) <= 1.0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=50),
)
def test_rmse_is_the_root_of_mse_and_zero_on_exact_predictions(pairs) -> None:
    pred, target = np.array(pairs).T
    assert metrics.rmse(pred, target) == pytest.approx(math.sqrt(metrics.mse(pred, target)))
    assert metrics.rmse(target, target) == 0.0
    assert 0.0 <= metrics.rmse(pred, target) <= 1.0
