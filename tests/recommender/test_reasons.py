"""Reasons name a seen paper only when it is really close to the recommended one."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import numpy as np

from recommender_service.serving.history import HistoryEntry
from recommender_service.serving.items import ItemTable
from recommender_service.serving.reasons import LIKE_YOURS, NEW_IN_FILIERE, explain

NOW = datetime(2026, 1, 10, tzinfo=UTC)
# id: (matière, filière, niveau, année)
PAPERS = {
    1: ("Algèbre linéaire", "MATH", "L2", 2023),  # seen
    2: ("Algèbre linéaire", "MATH", "L2", 2022),  # same matière as 1
    3: ("Chimie organique", "CHIMIE", "L2", 2023),  # far from everything seen
    4: ("Analyse", "MATH", "L2", 2025),  # the newest year of the catalogue
    5: ("Probabilités", "MATH", "L2", 2022),  # the most used of L2 MATH
    6: ("Topologie", "MATH", "L2", 2021),
    7: ("Géométrie", "MATH", "L2", 2021),
    8: ("Optique", "PHYSIQUE", "L2", 2022),
}
POPULARITY = {1: 3.0, 2: 1.0, 3: 9.0, 4: 0.0, 5: 8.0, 6: 1.0, 7: 0.5, 8: 2.0}


def _table() -> ItemTable:
    rows = [
        SimpleNamespace(
            id=i,
            is_active=True,
            title=f"{m} {i}",
            matiere=m,
            filiere=f,
            niveau=n,
            type="EXAMEN",
            annee=a,
        )
        for i, (m, f, n, a) in PAPERS.items()
    ]
    return ItemTable(rows, POPULARITY, generation="g", started=0.0)


def _explain(chosen: list[int], similarity: list[float], min_similarity: float = 0.5) -> list[str]:
    history = [HistoryEntry(1, "VIEW", NOW)]
    reasons = explain(
        _table(), np.asarray(chosen, dtype=np.int64), history=history,
        anchor=np.zeros(len(chosen), dtype=np.int64), similarity=np.asarray(similarity),
        min_similarity=min_similarity, niveau="L2", filiere="MATH",
    )  # fmt: skip
    return [r.text if r.anchor is None else f"{r.text}@{r.anchor}" for r in reasons]


def test_a_seen_paper_is_named_when_close_in_the_model_space() -> None:
    assert _explain([3], [0.8]) == ["because you viewed {anchor}@1"]


def test_a_distant_paper_of_another_matiere_is_not_named() -> None:
    # The case: an L2 CHIMIE exam "because you viewed TD 4 d'Algèbre linéaire".
    assert _explain([3], [0.1]) == [LIKE_YOURS]
    assert _explain([3], [-np.inf]) == [LIKE_YOURS]


def test_a_seen_paper_of_the_same_matiere_is_named_even_when_far() -> None:
    assert _explain([2], [0.1]) == ["because you viewed {anchor}@1"]


def test_honest_reasons_about_the_paper_itself() -> None:
    assert _explain([4, 5, 6, 8], [0.0, 0.0, 0.0, 0.0]) == [
        NEW_IN_FILIERE,  # the latest année of the catalogue, in the student's filière
        "popular in L2 MATH",  # top fifth of L2 MATH by popularity
        LIKE_YOURS,  # in their filière but neither new nor popular
        LIKE_YOURS,  # another filière
    ]


def test_the_threshold_is_the_setting() -> None:
    assert _explain([3], [0.4], min_similarity=0.3) == ["because you viewed {anchor}@1"]
    assert _explain([3], [0.4], min_similarity=0.5) == [LIKE_YOURS]


def test_an_untouched_group_has_nothing_popular() -> None:
    table = _table()
    assert table.popular_threshold("M2", "INFO", 0.2) == np.inf
    assert table.popular_threshold("L2", "MATH", 0.2) >= 1.0
