"""The read model's impressions: what each user was shown, counted per item for rotation.

One statement applies any number of lists (those of `impressions.recorded` events: the
one-by-one path and the batch path both call `apply_impressions`): the list ids go into
`impression` first, and only the ids that were new there add to `impression_count`, so a
redelivered event counts nothing.
A deleted user's lists are not counted (their counts went with their history).

Impressions never retire cached answers: each answer shown is an impression, and retiring the
user's cached lists on every one would leave nothing cached. A count is read when the user's
list is next computed (rotation acts at the pace of the cache, TTL 1 h by default).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from recommender_service.readmodel.models import ImpressionCount
from shared.events import ImpressionRecorded

_APPLY = """
WITH lists AS (
    SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::timestamptz[]) AS l (id, user_id, shown_at)
    WHERE NOT EXISTS (
        SELECT FROM recommender."user" AS u WHERE u.id = l.user_id AND NOT u.is_active
    )
),
new AS (
    INSERT INTO recommender.impression (id, user_id, shown_at)
    SELECT id, user_id, shown_at FROM lists
    ON CONFLICT (id) DO NOTHING
    RETURNING id
),
shown AS (
    SELECT s.user_id, s.item_id, count(*) AS n, max(s.shown_at) AS last_shown_at
    FROM unnest($4::uuid[], $5::bigint[], $6::bigint[], $7::timestamptz[])
        AS s (id, user_id, item_id, shown_at)
    JOIN new ON new.id = s.id
    GROUP BY s.user_id, s.item_id
)
INSERT INTO recommender.impression_count AS c (user_id, item_id, shown, last_shown_at)
SELECT user_id, item_id, n, last_shown_at FROM shown
ON CONFLICT (user_id, item_id) DO UPDATE
SET shown = c.shown + excluded.shown,
    last_shown_at = greatest(c.last_shown_at, excluded.last_shown_at)"""


async def apply_impressions(session: AsyncSession, payloads: Sequence[ImpressionRecorded]) -> None:
    """Counts these lists (in the caller's transaction), each list id once ever."""
    lists: dict[object, ImpressionRecorded] = {p.id: p for p in payloads}  # one row per id
    if not lists:
        return
    shown = [(p, item_id) for p in lists.values() for item_id in dict.fromkeys(p.item_ids)]
    args = (
        [p.id for p in lists.values()],
        [p.user_id for p in lists.values()],
        [p.shown_at for p in lists.values()],
        [p.id for p, _ in shown],
        [p.user_id for p, _ in shown],
        [item_id for _, item_id in shown],
        [p.shown_at for p, _ in shown],
    )
    conn = await session.connection()
    await conn.exec_driver_sql(_APPLY, args)


async def forget_user(session: AsyncSession, user_id: int) -> None:
    """A deleted user's counts go with the rest of their history."""
    await session.execute(delete(ImpressionCount).where(ImpressionCount.user_id == user_id))
