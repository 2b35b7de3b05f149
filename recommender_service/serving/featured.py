"""Scores of a model with side features (`neumf_features`) over the whole item table.

Such a model scores a paper nobody has touched since it was trained, from its filière, niveau,
matière, type and année, and a student it has never seen, from their niveau and filière: the
September case (new students) and the start of each semester (new papers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from recommender_service.serving.history import UserActivity
from recommender_service.serving.items import ItemTable

if TYPE_CHECKING:
    from recommender_service.ml.artifact import TrainedModel


def featured_scores(
    model: TrainedModel, table: ItemTable, user_id: int, activity: UserActivity
) -> np.ndarray | None:
    """Raw scores aligned with `table.ids`; None when the model has no features or knows
    nothing of the user (unseen in training, with neither niveau nor filière)."""
    if not model.uses_features:
        return None
    known = model.user_index(user_id) is not None
    if not known and not (activity.niveau or activity.filiere):
        return None
    meta = {"niveau": activity.niveau, "filiere": activity.filiere}
    return model.scores_for(
        user_id if known else None, table.ids, user_meta=meta, item_meta=table.metas
    )
