"""Re-ranking: diversity 0 is the plain ranking, diversity 1 raises intra-list diversity on
planted data, rotation damps an item after N unclicked impressions and not before."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from recommender_service.serving.rerank import (
    Rotation,
    attribute_vectors,
    damp,
    intra_list_diversity,
    mmr,
    pool_size,
    relevance,
    rerank,
    unit_rows,
)

OFF = Rotation(after=3, factor=1.0)


def planted(n_clusters: int = 4, per_cluster: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Items in tight clusters; scores put a whole cluster ahead of the next one."""
    rng = np.random.default_rng(0)
    centres = np.eye(n_clusters)
    vectors = np.repeat(centres, per_cluster, axis=0) + rng.normal(
        0, 0.02, (n_clusters * per_cluster, n_clusters)
    )
    scores = np.linspace(10.0, 0.0, n_clusters * per_cluster)
    return unit_rows(vectors), scores


@settings(max_examples=200, deadline=None)
@given(
    arrays(np.float64, st.integers(1, 40), elements=st.floats(-50, 50)),
    st.integers(1, 12),
)
def test_diversity_0_is_the_plain_ranking(scores: np.ndarray, k: int) -> None:
    vectors = unit_rows(np.random.default_rng(1).normal(size=(len(scores), 8)))
    ids = np.arange(100, 100 + len(scores))
    plain = np.argsort(-scores, kind="stable")[:k]
    chosen = rerank(ids, scores, vectors, k=k, diversity=0.0, rotation=OFF, shown={}, engaged=())
    assert chosen.tolist() == plain.tolist()
    rel = relevance(scores)
    by_relevance = np.argsort(-rel, kind="stable")[:k]
    assert mmr(rel, vectors, diversity=0.0, k=k).tolist() == by_relevance.tolist()


def test_diversity_1_raises_intra_list_diversity_on_planted_clusters() -> None:
    vectors, scores = planted()
    ids = np.arange(len(scores))
    plain = rerank(ids, scores, vectors, k=4, diversity=0.0, rotation=OFF, shown={}, engaged=())
    diverse = rerank(ids, scores, vectors, k=4, diversity=1.0, rotation=OFF, shown={}, engaged=())
    assert plain.tolist() == [0, 1, 2, 3]  # all from the first cluster
    assert sorted(i // 5 for i in diverse) == [0, 1, 2, 3]  # one from each
    assert diverse[0] == 0  # the best item still leads
    assert intra_list_diversity(vectors[plain]) < 0.01
    assert intra_list_diversity(vectors[diverse]) > 0.95


def test_any_diversity_above_0_is_more_diverse_than_the_plain_list_on_planted_clusters() -> None:
    vectors, scores = planted()
    rel = relevance(scores)
    ild = [
        intra_list_diversity(vectors[mmr(rel, vectors, diversity=d, k=8)])
        for d in (0.0, 0.3, 0.6, 0.9)
    ]
    assert ild[0] < min(ild[1:])


def test_attribute_vectors_score_the_share_of_matiere_and_type_in_common() -> None:
    v = attribute_vectors(["MATH", "MATH", "MATH", "INFO"], ["PARTIEL", "PARTIEL", "TD", "TD"])
    sims = np.round(v @ v.T, 6)
    assert sims[0].tolist() == [1.0, 1.0, 0.5, 0.0]
    assert sims[2, 3] == 0.5


@pytest.mark.parametrize(("shown", "damped"), [(2, False), (3, True), (7, True)])
def test_rotation_damps_an_item_after_n_unclicked_impressions_and_not_before(
    shown: int, damped: bool
) -> None:
    rotation = Rotation(after=3, factor=0.5)
    rel = np.array([1.0, 0.9, 0.2])
    out = damp([10, 11, 12], rel, shown={10: shown, 11: 1}, engaged=set(), rotation=rotation)
    assert out.tolist() == ([0.5, 0.9, 0.2] if damped else [1.0, 0.9, 0.2])


def test_rotation_spares_an_item_the_user_interacted_with() -> None:
    rotation = Rotation(after=3, factor=0.5)
    rel = np.array([1.0, 0.9])
    out = damp([10, 11], rel, shown={10: 9, 11: 9}, engaged={10}, rotation=rotation)
    assert out.tolist() == [1.0, 0.45]


def test_a_damped_item_drops_below_the_next_one_in_the_list() -> None:
    rotation = Rotation(after=2, factor=0.5)
    ids = np.array([10, 11, 12])
    scores = np.array([3.0, 2.5, 0.0])  # relevance 1, 0.833, 0
    before = rerank(ids, scores, None, k=3, diversity=0.0, rotation=rotation,
                    shown={10: 1}, engaged=())  # fmt: skip
    after = rerank(ids, scores, None, k=3, diversity=0.0, rotation=rotation,
                   shown={10: 2}, engaged=())  # fmt: skip
    assert ids[before].tolist() == [10, 11, 12]
    assert ids[after].tolist() == [11, 10, 12]


def test_the_pool_is_the_list_itself_only_when_nothing_reranks() -> None:
    assert pool_size(10, diversity=0.0, rotation=OFF) == 10
    assert pool_size(10, diversity=0.2, rotation=OFF) == 40
    assert pool_size(10, diversity=0.0, rotation=Rotation(3, 0.5)) == 40
