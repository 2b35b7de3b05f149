"""Cold-start answers that need no model, from the in-memory item table: popularity and
content-based neighbours.

Popularity is the interactions' confidence (the training weights per kind) decayed with age
(half-life configurable), so that last term's papers outrank those of five years ago. Items of
the user's own niveau and filière come first ("popular in L2 MATH"), the rest fill up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommender_service.serving.items import ItemFilters, ItemTable


@dataclass(frozen=True)
class Scored:
    item_id: int
    score: float
    reason: str  # may hold "{anchor}", replaced by the title of the `anchor` item
    anchor: int | None = None


def _best(table: ItemTable, mask: np.ndarray, first: np.ndarray, k: int) -> np.ndarray:
    """Rows of `mask`, by `first` (descending), then popularity, then the newest id."""
    rows = np.flatnonzero(mask)
    order = np.lexsort((-table.ids[rows], -table.popularity[rows], -first[rows]))
    return rows[order[:k]]


def popular(
    table: ItemTable,
    *,
    k: int,
    filters: ItemFilters,
    niveau: str | None,
    filiere: str | None,
    exclude: np.ndarray,
) -> list[Scored]:
    mask = table.eligible(filters)
    if len(exclude):
        mask = mask & ~np.isin(table.ids, exclude)
    if niveau and filiere:
        own = (table.niveau == niveau) & (table.filiere == filiere)
    else:
        own = np.zeros(len(table.ids), dtype=bool)
    return [
        Scored(
            int(table.ids[row]),
            float(table.popularity[row]),
            f"popular in {niveau} {filiere}" if own[row] else "popular with students",
        )
        for row in _best(table, mask, own.astype(np.float64), k)
    ]


def content_neighbours(table: ItemTable, *, row: int, k: int) -> list[Scored]:
    """Items sharing the matière, filière and niveau of the item at `row` (in that order of
    weight), the most popular first among equals."""
    similarity = (
        0.5 * (table.matiere == table.matiere[row])
        + 0.3 * (table.filiere == table.filiere[row])
        + 0.2 * (table.niveau == table.niveau[row])
    )
    mask = table.active & (similarity > 0)
    mask[row] = False
    card = table.cards[row]
    label = f"{card['matiere']}, {card['niveau']} {card['filiere']}"
    return [
        Scored(int(table.ids[r]), float(similarity[r]), f"same subject area as {label}")
        for r in _best(table, mask, similarity, k)
    ]
