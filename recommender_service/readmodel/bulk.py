"""Applying many events in one transaction, with one statement per run of same-kind events.

Replaying a stream one statement (and one commit) per event tops out at a few dozen events per
second; a read batch is mostly interactions, which become one INSERT of arrays here. Order is
kept: the batch is cut into runs of consecutive events of one kind, applied run after run, so a
user deleted before their interaction (or after it) ends exactly as one-by-one application would.
Within a run of upserts the same row may appear twice; PostgreSQL refuses that in one
`ON CONFLICT DO UPDATE`, so the run keeps per key the newest event (the later one on a tie),
which is what the `updated_at` guard would have kept applying them in order.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Hashable, Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from recommender_service.readmodel.impressions import apply_impressions
from recommender_service.readmodel.models import Evaluation, Item, User
from recommender_service.readmodel.service import Change, Interacted, apply_payload, interacted
from shared.events import (
    EpreuveUpserted,
    EvaluationUpserted,
    ImpressionsRecorded,
    InteractionCreated,
    Payload,
    UserUpserted,
)

# asyncpg takes at most 32,767 bind parameters per statement; 7–9 columns a row stay well under.
MAX_ROWS = 2000


class Applied(NamedTuple):
    payload: Payload
    at: datetime
    event_id: uuid.UUID | None = None


async def apply_batch(session: AsyncSession, batch: Sequence[Applied]) -> set[Change]:
    """Applies `batch` in order in the caller's transaction; returns the distinct changes."""
    changes: set[Change] = set()
    for kind, run_iter in itertools.groupby(batch, key=lambda a: type(a.payload)):
        run = list(run_iter)
        for start in range(0, len(run), MAX_ROWS):
            chunk = run[start : start + MAX_ROWS]
            if kind is InteractionCreated:
                changes |= await _interactions(session, chunk)
            elif kind is UserUpserted:
                changes |= await _users(session, chunk)
            elif kind is EpreuveUpserted:
                changes |= await _items(session, chunk)
            elif kind is EvaluationUpserted:
                changes |= await _evaluations(session, chunk)
            elif kind is ImpressionsRecorded:  # retires no cached answer
                lists = [shown for a in chunk for shown in a.payload.lists]  # type: ignore[attr-defined]
                await apply_impressions(session, lists)
            else:  # deletions are rare: one by one
                for a in chunk:
                    changes.add(
                        await apply_payload(session, a.payload, at=a.at, event_id=a.event_id)
                    )
    return changes


def _newest(run: Iterable[Applied], key: Any, at: Any) -> list[Applied]:
    kept: dict[Hashable, Applied] = {}
    for a in run:
        k = key(a.payload)
        if k not in kept or at(kept[k]) <= at(a):
            kept[k] = a
    return list(kept.values())


# One statement for a run of interactions: the users deleted before it (their interactions are
# not kept) and the insert of the others, as arrays (one prepared statement for any size).
# Driver SQL: compiling a multi-row ORM INSERT was a quarter of the recommender's CPU under a
# steady flow of interactions.
_INTERACTIONS = """
WITH input AS (
    SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::bigint[], $4::bigint[], $5::text[],
                         $6::smallint[], $7::timestamptz[])
        AS t (id, event_id, user_id, item_id, kind, relevance, occurred_at)
),
gone AS (SELECT id FROM recommender."user" WHERE id = ANY($3::bigint[]) AND NOT is_active),
kept AS (
    INSERT INTO recommender.interaction (id, event_id, user_id, item_id, kind, relevance,
                                         occurred_at)
    SELECT id, event_id, user_id, item_id, kind, relevance, occurred_at FROM input
    WHERE user_id NOT IN (SELECT id FROM gone)
    ON CONFLICT DO NOTHING
)
SELECT id FROM gone"""


async def _interactions(session: AsyncSession, run: list[Applied]) -> set[Change]:
    payloads: list[InteractionCreated] = [a.payload for a in run]  # type: ignore[misc]
    args = (
        [p.id for p in payloads],
        [a.event_id for a in run],
        [p.user_id for p in payloads],
        [p.epreuve_id for p in payloads],
        [p.kind.value for p in payloads],
        [p.relevance for p in payloads],
        [p.created_at for p in payloads],
    )
    conn = await session.connection()
    deleted = set((await conn.exec_driver_sql(_INTERACTIONS, args)).scalars())
    applied: dict[int, list[Interacted]] = {p.user_id: [] for p in payloads}
    for p in payloads:
        if p.user_id not in deleted:
            applied[p.user_id].append(interacted(p))
    return {Change(user_id=u, interactions=tuple(found)) for u, found in applied.items()}


async def _users(session: AsyncSession, run: list[Applied]) -> set[Change]:
    kept = _newest(run, lambda p: p.id, lambda a: a.at)
    rows = [
        {
            "id": a.payload.id,  # type: ignore[attr-defined]
            "updated_at": a.at,
            **a.payload.model_dump(mode="json", include={"niveau", "filiere", "is_active"}),
        }
        for a in kept
    ]
    stmt = insert(User).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=[User.id],
        set_={c: stmt.excluded[c] for c in ("niveau", "filiere", "is_active", "updated_at")},
        where=User.updated_at <= stmt.excluded.updated_at,
    )
    await session.execute(stmt)
    return {Change(user_id=a.payload.id, profile_changed=True) for a in kept}  # type: ignore[attr-defined]


async def _items(session: AsyncSession, run: list[Applied]) -> set[Change]:
    kept = _newest(run, lambda p: p.id, lambda a: a.at)
    rows = [{"id": a.payload.id, "updated_at": a.at, **_item_values(a.payload)} for a in kept]  # type: ignore[attr-defined]
    stmt = insert(Item).values(rows)
    columns = [c for c in rows[0] if c != "id"]
    stmt = stmt.on_conflict_do_update(
        index_elements=[Item.id],
        set_={c: stmt.excluded[c] for c in columns},
        where=Item.updated_at <= stmt.excluded.updated_at,
    )
    await session.execute(stmt)
    return {Change(items_changed=True)}


def _item_values(payload: Payload) -> dict[str, Any]:
    return payload.model_dump(mode="json", exclude={"id"})


async def _evaluations(session: AsyncSession, run: list[Applied]) -> set[Change]:
    kept = _newest(
        run,
        lambda p: (p.user_id, p.epreuve_id),
        lambda a: a.payload.updated_at,  # type: ignore[attr-defined]
    )
    rows = []
    for a in kept:
        p: EvaluationUpserted = a.payload  # type: ignore[assignment]
        rows.append(
            {
                "user_id": p.user_id, "item_id": p.epreuve_id, "difficulty": p.difficulty,
                "relevance": p.relevance, "updated_at": p.updated_at,
            }
        )  # fmt: skip
    stmt = insert(Evaluation).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=[Evaluation.user_id, Evaluation.item_id],
        set_={c: stmt.excluded[c] for c in ("difficulty", "relevance", "updated_at")},
        where=Evaluation.updated_at <= stmt.excluded.updated_at,
    )
    await session.execute(stmt)
    return {Change(user_id=a.payload.user_id) for a in kept}  # type: ignore[attr-defined]
