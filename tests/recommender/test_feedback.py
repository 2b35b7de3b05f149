"""Implicit feedback: raw interaction rows → one confidence per (user, item)."""

from __future__ import annotations

import numpy as np
import pytest

from recommender_service.ml.feedback import KIND_WEIGHTS, implicit_feedback
from shared.enums import InteractionKind


def test_kind_weights_order_view_below_click_below_download() -> None:
    w = KIND_WEIGHTS
    assert w[InteractionKind.VIEW] < w[InteractionKind.CLICK] < w[InteractionKind.DOWNLOAD]


def test_rows_of_one_pair_sum_their_weights_and_keep_the_latest_time() -> None:
    data = implicit_feedback(
        np.array([7, 7, 7, 8]),
        np.array([3, 3, 4, 3]),
        ["VIEW", "DOWNLOAD", "CLICK", "VIEW"],
        None,
        np.array([100, 300, 200, 50]),
    )
    assert data.user_ids.tolist() == [7, 7, 8]
    assert data.item_ids.tolist() == [3, 4, 3]
    assert data.confidence.tolist() == [5.0, 2.0, 1.0]
    assert data.timestamps.tolist() == [300, 200, 50]
    assert data.confidence.dtype == np.float32


def test_rate_counts_by_relevance_and_missing_relevance_as_three() -> None:
    data = implicit_feedback(
        np.array([1, 2, 3]),
        np.array([1, 1, 1]),
        ["RATE", "RATE", "RATE"],
        np.array([5.0, 1.0, np.nan]),
        np.array([1, 1, 1]),
    )
    assert data.confidence.tolist() == pytest.approx([4.0, 0.8, 2.4])


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="SHARE"):
        implicit_feedback(np.array([1]), np.array([1]), ["SHARE"], None, np.array([1]))


def test_empty_input_gives_empty_data() -> None:
    data = implicit_feedback(np.array([]), np.array([]), [], None, np.array([]))
    assert len(data) == 0
