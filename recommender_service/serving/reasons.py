"""Why a paper is in a student's list, said honestly.

A "because you downloaded X" names a seen paper only when X is really close to the recommended
one: above `min_similarity` in the model's item space, or sharing its matière. Otherwise the
reason says what is true of the paper for this student: the newest papers of their filière,
those popular in their niveau and filière, or, failing both, that students with a history like
theirs used it (what collaborative filtering knows and nothing more), or, for a student with no
history yet, that it is chosen for their niveau and filière.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommender_service.serving.history import HistoryEntry
from recommender_service.serving.items import ItemTable

VERBS = {"VIEW": "viewed", "CLICK": "opened", "DOWNLOAD": "downloaded", "RATE": "rated"}
LIKE_YOURS = "used by students with a history like yours"
NEW_IN_FILIERE = "new in your filière"
POPULAR_SHARE = 0.2  # "popular in L2 MATH": within the top fifth of that group by popularity


@dataclass(frozen=True)
class Reason:
    text: str  # may hold "{anchor}", replaced by the title of the `anchor` item
    anchor: int | None = None


def because(entry: HistoryEntry) -> Reason:
    return Reason(f"because you {VERBS.get(entry.kind, 'used')} {{anchor}}", entry.item_id)


def explain(
    table: ItemTable,
    chosen: np.ndarray,
    *,
    history: list[HistoryEntry],
    anchor: np.ndarray,
    similarity: np.ndarray,
    min_similarity: float,
    niveau: str | None,
    filiere: str | None,
) -> list[Reason]:
    """One reason per chosen item id. `anchor[j]` indexes `history` (the seen item most similar
    to `chosen[j]` in the model's space) and `similarity[j]` is that similarity."""
    rows = table.rows_of(chosen)
    seen_rows = table.rows_of(np.asarray([h.item_id for h in history], dtype=np.int64))
    latest = _latest_by_matiere(table, history, seen_rows)
    reasons = []
    for j, row in enumerate(rows.tolist()):
        if history and similarity[j] >= min_similarity:
            reasons.append(because(history[int(anchor[j])]))
            continue
        same = latest.get(str(table.matiere[row])) if row >= 0 else None
        if same is not None:
            reasons.append(because(same))
        else:
            reasons.append(Reason(_about_the_paper(table, row, niveau, filiere, bool(history))))
    return reasons


def _latest_by_matiere(
    table: ItemTable, history: list[HistoryEntry], seen_rows: np.ndarray
) -> dict[str, HistoryEntry]:
    """The most recent seen paper of each matière (history is most recent first), read once
    per list rather than once per chosen paper."""
    latest: dict[str, HistoryEntry] = {}
    for entry, seen in zip(history, seen_rows.tolist(), strict=True):
        if seen >= 0:
            latest.setdefault(str(table.matiere[seen]), entry)
    return latest


def _about_the_paper(
    table: ItemTable, row: int, niveau: str | None, filiere: str | None, history: bool
) -> str:
    # Without a history, the model only had the student's profile to go on.
    otherwise = (
        LIKE_YOURS if history or not (niveau and filiere) else f"for {niveau} {filiere} students"
    )
    if row < 0 or not filiere or table.filiere[row] != filiere:
        return otherwise
    if table.annee[row] >= table.latest_annee:
        return NEW_IN_FILIERE
    if niveau and table.niveau[row] == niveau:
        threshold = table.popular_threshold(niveau, filiere, POPULAR_SHARE)
        if table.popularity[row] >= threshold:
            return f"popular in {niveau} {filiere}"
    return otherwise
