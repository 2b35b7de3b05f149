"""Writing impressions: the rows and one `impressions.recorded` event for them, in one
transaction.

One statement for any number of lists (the inputs as arrays; each list's items as the text of
an array, since PostgreSQL's unnest would flatten an array of arrays). A list already written
(a flush retried after a commit whose outcome was lost) is skipped, and is in no second event.
Impressions take no per-user order lock: the recommender only counts them, which commutes with
every other event of the user.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from catalog_service.outbox.service import record_events
from shared.events import ImpressionRecorded, ImpressionsRecorded

_INSERT = """
INSERT INTO catalog.impression (id, user_id, surface, anchor_id, item_ids, source,
                                model_version, strategy, arm, experiment_id, shown_at)
SELECT i.id, i.user_id, i.surface, i.anchor_id, CAST(i.item_ids AS bigint[]), i.source,
       i.model_version, i.strategy, i.arm, i.experiment_id, i.shown_at
FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::bigint[], $5::text[], $6::text[],
            $7::bigint[], $8::text[], $9::text[], $10::int[], $11::timestamptz[])
    AS i (id, user_id, surface, anchor_id, item_ids, source, model_version, strategy, arm,
          experiment_id, shown_at)
JOIN catalog."user" AS u ON u.id = i.user_id
ON CONFLICT (id) DO NOTHING
RETURNING id"""


async def write(*, session: AsyncSession, impressions: Sequence[ImpressionRecorded]) -> int:
    """Adds the lists and their events to the session's transaction; how many were new."""
    if not impressions:
        return 0
    args = (
        [p.id for p in impressions],
        [p.user_id for p in impressions],
        [p.surface.value for p in impressions],
        [p.anchor_id for p in impressions],
        ["{" + ",".join(map(str, p.item_ids)) + "}" for p in impressions],
        [p.source for p in impressions],
        [p.model_version for p in impressions],
        [p.strategy for p in impressions],
        [p.arm.value if p.arm else None for p in impressions],
        [p.experiment_id for p in impressions],
        [p.shown_at for p in impressions],
    )
    conn = await session.connection()
    new: set[uuid.UUID] = set((await conn.exec_driver_sql(_INSERT, args)).scalars())
    written = list({p.id: p for p in impressions if p.id in new}.values())
    if written:
        # Our own lists, valid by construction: not validated again.
        batch = ImpressionsRecorded.model_construct(lists=written)
        await record_events(
            session=session, payloads=[batch], occurred_at=max(p.shown_at for p in written)
        )
    return len(written)
