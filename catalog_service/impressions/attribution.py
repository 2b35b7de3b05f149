"""Attribution, the one rule: an interaction belongs to the recommendation list it names when
that list was shown to the same user, held the épreuve, and the interaction came within the
attribution window after it (ATTRIBUTION_WINDOW_MINUTES, 30 by default).

Decided when read, not when the interaction is written: a list is written a moment after it is
answered (`impressions.log`), and an interaction may arrive first; and the rule stays the same
whatever the writer (POST /v1/interactions, a view, a download).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Select, and_, func, select

from catalog_service.impressions.models import Impression
from catalog_service.interactions.models import Interaction

# The list's time is the catalog process's clock, the interaction's the database's: a click at
# once may read a little earlier than the answer it followed.
CLOCK_SLACK = timedelta(seconds=5)


def attributed(window: timedelta) -> Select[tuple[object, ...]]:
    """One row per attributed interaction: the list (`impression_id`), the épreuve's
    `position` in it (1 = first), the interaction's `kind` and `created_at`, and its `id`."""
    position = func.array_position(Impression.item_ids, Interaction.epreuve_id)
    return (
        select(
            Interaction.id,
            Impression.id.label("impression_id"),
            position.label("position"),
            Interaction.kind,
            Interaction.created_at,
        )
        .join(
            Impression,
            and_(
                Impression.id == Interaction.recommendation_id,
                Impression.user_id == Interaction.user_id,
            ),
        )
        .where(
            position.is_not(None),
            Interaction.created_at >= Impression.shown_at - CLOCK_SLACK,
            Interaction.created_at <= Impression.shown_at + window,
        )
    )
