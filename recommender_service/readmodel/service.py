"""The read model's owner: applying catalog events to it, and the queries training and serving
need (serving reads items, popularity and one user's activity only when its memory is stale).

Applying is idempotent and tolerant of order. Interactions are keyed by the catalog's id and
their `event_id` (both unique): a redelivered event inserts nothing. Users, items and
evaluations are upserts guarded by `updated_at`, the catalog-side time of the event: an older
event arriving late never overwrites newer state, and the same event applied twice writes the
same values.

"New since a model's data" counts by `ingested_at`, the time this replica stored the row: the
catalog-side time says when the student acted, not when a model could first have seen it.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import (
    BigInteger,
    Float,
    Integer,
    and_,
    bindparam,
    case,
    cast,
    delete,
    exists,
    func,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from recommender_service.ml.feedback import DEFAULT_RELEVANCE, KIND_WEIGHTS
from recommender_service.readmodel import impressions
from recommender_service.readmodel.models import Evaluation, Interaction, Item, User
from shared.enums import InteractionKind
from shared.events import (
    EpreuveDeleted,
    EpreuveUpserted,
    EvaluationUpserted,
    Event,
    ImpressionsRecorded,
    InteractionCreated,
    Payload,
    UserDeleted,
    UserUpserted,
)

Interacted = tuple[int, str, datetime]  # (item_id, kind, occurred_at) of an interaction


@dataclass(frozen=True)
class Change:
    """What an applied event touched, so that caches can be invalidated precisely, and what a
    replica's in-memory history of the user needs to follow it without reading SQL."""

    user_id: int | None = None
    items_changed: bool = False
    # The user's interactions it applied (a tuple: changes are gathered in sets): in-memory
    # histories advance by them (`serving.history`). A redelivered one may be among them.
    interactions: tuple[Interacted, ...] = ()
    # Their profile changed, or they were deleted: in-memory histories of them are dropped.
    profile_changed: bool = False


NO_CHANGE = Change()  # an event that retires no cached answer (an impression)


def interacted(payload: InteractionCreated) -> Interacted:
    """What a change reports of an applied interaction, timed as the read model returns it
    (asyncpg stores a naive time as local time)."""
    return payload.epreuve_id, payload.kind.value, payload.created_at.astimezone(UTC)


async def apply_event(session: AsyncSession, event: Event) -> Change:
    """Applies one stream event (raises `InvalidEvent` if its payload breaks the contract)."""
    return await apply_payload(
        session, event.parsed(), at=event.occurred_at, event_id=event.event_id
    )


async def apply_payload(
    session: AsyncSession, payload: Payload, *, at: datetime, event_id: uuid.UUID | None = None
) -> Change:
    match payload:
        case InteractionCreated():
            if not await _insert_interaction(session, payload, event_id):
                return Change(user_id=payload.user_id)
            return Change(user_id=payload.user_id, interactions=(interacted(payload),))
        case UserUpserted():
            values = payload.model_dump(mode="json", include={"niveau", "filiere", "is_active"})
            await _upsert_user(session, payload.id, at, values)
            return Change(user_id=payload.id, profile_changed=True)
        case UserDeleted():
            await _upsert_user(session, payload.id, at, {"is_active": False})
            # A deleted user's history goes too; later events for them are ignored.
            await session.execute(delete(Interaction).where(Interaction.user_id == payload.id))
            await session.execute(delete(Evaluation).where(Evaluation.user_id == payload.id))
            await impressions.forget_user(session, payload.id)
            return Change(user_id=payload.id, profile_changed=True)
        case EpreuveUpserted():
            values = payload.model_dump(mode="json", exclude={"id"})
            await _upsert_item(session, payload.id, at, values)
            return Change(items_changed=True)
        case EpreuveDeleted():
            await _upsert_item(session, payload.id, at, {"is_active": False})
            return Change(items_changed=True)
        case EvaluationUpserted():
            await _upsert_evaluation(session, payload)
            return Change(user_id=payload.user_id)  # their answers; their history is unchanged
        case ImpressionsRecorded():
            await impressions.apply_impressions(session, payload.lists)
            return NO_CHANGE  # see readmodel.impressions
    raise TypeError(f"no handler for {type(payload).__name__}")


async def _insert_interaction(
    session: AsyncSession, payload: InteractionCreated, event_id: uuid.UUID | None
) -> bool:
    """False when the user was deleted: their later interactions are ignored."""
    deleted = await session.scalar(
        select(func.count()).where(User.id == payload.user_id, User.is_active.is_(False))
    )
    if deleted:
        return False
    stmt = insert(Interaction).values(
        id=payload.id,
        event_id=event_id,
        user_id=payload.user_id,
        item_id=payload.epreuve_id,
        kind=payload.kind.value,
        relevance=payload.relevance,
        occurred_at=payload.created_at,
    )
    await session.execute(stmt.on_conflict_do_nothing())
    return True


async def _upsert_user(
    session: AsyncSession, user_id: int, at: datetime, values: dict[str, object]
) -> None:
    stmt = insert(User).values(id=user_id, updated_at=at, **values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[User.id],
        set_={**values, "updated_at": at},
        where=User.updated_at <= stmt.excluded.updated_at,
    )
    await session.execute(stmt)


async def _upsert_item(
    session: AsyncSession, item_id: int, at: datetime, values: dict[str, object]
) -> None:
    # A delete that arrives before the item was ever seen still records a tombstone row.
    defaults = {"title": "", "matiere": "", "filiere": "", "niveau": "", "type": "", "annee": 0}
    stmt = insert(Item).values(id=item_id, updated_at=at, **{**defaults, **values})
    stmt = stmt.on_conflict_do_update(
        index_elements=[Item.id],
        set_={**values, "updated_at": at},
        where=Item.updated_at <= stmt.excluded.updated_at,
    )
    await session.execute(stmt)


async def _upsert_evaluation(session: AsyncSession, payload: EvaluationUpserted) -> None:
    values = {"difficulty": payload.difficulty, "relevance": payload.relevance}
    stmt = insert(Evaluation).values(
        user_id=payload.user_id, item_id=payload.epreuve_id, updated_at=payload.updated_at, **values
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[Evaluation.user_id, Evaluation.item_id],
        set_={**values, "updated_at": payload.updated_at},
        where=Evaluation.updated_at <= stmt.excluded.updated_at,
    )
    await session.execute(stmt)


async def is_empty(session: AsyncSession) -> bool:
    """No user, item or interaction yet: a fresh replica that needs the bootstrap."""
    for model in (Interaction, Item, User):
        if await session.scalar(select(select(model.id).limit(1).exists())):
            return False
    return True


async def counts(session: AsyncSession) -> dict[str, int]:
    result = {}
    for name, model in (("users", User), ("items", Item), ("interactions", Interaction)):
        result[name] = await session.scalar(select(func.count()).select_from(model)) or 0
    result["evaluations"] = await session.scalar(select(func.count()).select_from(Evaluation)) or 0
    return result


@dataclass(frozen=True)
class TrainingRows:
    """Raw interaction rows of active users with active items, as stored at `snapshot_at`."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    kinds: list[str]
    relevances: np.ndarray  # NaN where the row carries none
    timestamps: np.ndarray  # unix seconds of the interaction
    item_pool: np.ndarray  # every active item, interacted with or not
    snapshot_at: datetime


async def training_rows(session: AsyncSession) -> TrainingRows:
    snapshot_at: datetime = await session.scalar(select(func.transaction_timestamp()))  # type: ignore[assignment]
    inactive_user = exists().where(and_(User.id == Interaction.user_id, User.is_active.is_(False)))
    rows = (
        await session.execute(
            select(
                Interaction.user_id,
                Interaction.item_id,
                Interaction.kind,
                Interaction.relevance,
                cast(func.extract("epoch", Interaction.occurred_at), Integer),
            )
            .join(Item, and_(Item.id == Interaction.item_id, Item.is_active.is_(True)))
            .where(~inactive_user, Interaction.ingested_at <= snapshot_at)
        )
    ).all()
    pool = await session.scalars(select(Item.id).where(Item.is_active.is_(True)))
    users, items, kinds, relevances, times = zip(*rows, strict=True) if rows else ([],) * 5
    return TrainingRows(
        user_ids=np.asarray(users, dtype=np.int64),
        item_ids=np.asarray(items, dtype=np.int64),
        kinds=list(kinds),
        relevances=np.array([np.nan if r is None else r for r in relevances], dtype=np.float64),
        timestamps=np.asarray(times, dtype=np.int64),
        item_pool=np.fromiter(pool, dtype=np.int64),
        snapshot_at=snapshot_at,
    )


Metadata = dict[int, dict[str, str | int | None]]


async def side_metadata(session: AsyncSession) -> tuple[Metadata, Metadata]:
    """Active users' niveau and filière, active items' filière, niveau, matière, type and
    année, by id: the side features of `neumf_features` (ml/features.py names the fields)."""
    users = await session.execute(
        select(User.id, User.niveau, User.filiere).where(User.is_active.is_(True))
    )
    items = await session.execute(
        select(Item.id, Item.filiere, Item.niveau, Item.matiere, Item.type, Item.annee).where(
            Item.is_active.is_(True)
        )
    )
    return (
        {row.id: {"niveau": row.niveau, "filiere": row.filiere} for row in users},
        {
            row.id: {
                "filiere": row.filiere, "niveau": row.niveau, "matiere": row.matiere,
                "type": row.type, "annee": row.annee,
            }
            for row in items
        },
    )  # fmt: skip


async def interactions_since(session: AsyncSession, since: datetime | None) -> int:
    """Interactions stored after `since` (all of them when None)."""
    stmt = select(func.count()).select_from(Interaction)
    if since is not None:
        stmt = stmt.where(Interaction.ingested_at > since)
    return await session.scalar(stmt) or 0


async def pairs_stored_by(
    session: AsyncSession, *, at: datetime, user_ids: np.ndarray, item_ids: np.ndarray
) -> np.ndarray:
    """Per (user, item) pair, whether an interaction of it was stored at or before `at`: the
    pairs a model whose data snapshot is `at` may have trained on."""
    if len(user_ids) == 0:
        return np.zeros(0, dtype=bool)
    pairs = (
        func.unnest(
            bindparam("users", [int(u) for u in user_ids], type_=ARRAY(BigInteger)),
            bindparam("items", [int(i) for i in item_ids], type_=ARRAY(BigInteger)),
        )
        .table_valued("user_id", "item_id")
        .render_derived(name="pair")
    )
    stored = exists().where(
        Interaction.user_id == pairs.c.user_id,
        Interaction.item_id == pairs.c.item_id,
        Interaction.ingested_at <= at,
    )
    rows = await session.execute(select(pairs.c.user_id, pairs.c.item_id).where(stored))
    seen = {(int(u), int(i)) for u, i in rows}
    return np.array(
        [(int(u), int(i)) in seen for u, i in zip(user_ids, item_ids, strict=True)], dtype=bool
    )


async def items(session: AsyncSession) -> Sequence[Any]:
    """Every item with the fields serving shows and filters on, active or not."""
    rows = await session.execute(
        select(
            Item.id, Item.title, Item.matiere, Item.filiere, Item.niveau, Item.type, Item.annee,
            Item.is_active,
        ).order_by(Item.id)
    )  # fmt: skip
    return rows.all()


def _confidence() -> Any:
    """An interaction's training weight (ml.feedback) in SQL."""
    relevance = func.coalesce(cast(Interaction.relevance, Float), DEFAULT_RELEVANCE) / 5.0
    whens = [
        (Interaction.kind == kind.value, literal(weight) * relevance)
        if kind is InteractionKind.RATE
        else (Interaction.kind == kind.value, literal(weight))
        for kind, weight in KIND_WEIGHTS.items()
    ]
    return case(*whens, else_=literal(0.0))


async def popularity(session: AsyncSession, *, half_life_days: float) -> dict[int, float]:
    """Per item, its interactions' confidence decayed with age (half-life `half_life_days`)."""
    age_days = func.extract("epoch", func.now() - Interaction.occurred_at) / 86400.0
    decay = func.exp(-math.log(2) / half_life_days * func.greatest(age_days, 0.0))
    rows = await session.execute(
        select(Interaction.item_id, func.sum(_confidence() * decay)).group_by(Interaction.item_id)
    )
    return {int(item_id): float(score) for item_id, score in rows}


@dataclass(frozen=True)
class Activity:
    niveau: str | None
    filiere: str | None
    rows: list[Interacted]  # latest first
    shown: dict[int, int]  # items shown in at least `shown_at_least` lists, with how many


# One round trip: a pooled connection's statement is prepared once, and the arrays come back
# as one row (the ORM path was a `session.get`, a select and another for the shown counts).
# The interactions' arrays share one total order (`id` breaks ties of `occurred_at`).
_ACTIVITY = """
SELECT u.niveau, u.filiere, h.items, h.kinds, h.times, s.items, s.shown
FROM (SELECT $1::bigint AS id) AS me
LEFT JOIN recommender."user" AS u ON u.id = me.id
CROSS JOIN LATERAL (
    SELECT array_agg(i.item_id ORDER BY i.occurred_at DESC, i.id DESC) AS items,
           array_agg(i.kind ORDER BY i.occurred_at DESC, i.id DESC) AS kinds,
           array_agg(i.occurred_at ORDER BY i.occurred_at DESC, i.id DESC) AS times
    FROM recommender.interaction AS i WHERE i.user_id = me.id
) AS h
CROSS JOIN LATERAL (
    SELECT array_agg(c.item_id) AS items, array_agg(c.shown) AS shown
    FROM recommender.impression_count AS c WHERE c.user_id = me.id AND c.shown >= $2::int
) AS s"""


async def user_activity(
    conn: AsyncConnection, user_id: int, *, shown_at_least: int | None
) -> Activity:
    """The user's profile, their interactions (index `(user_id, occurred_at)`), latest first,
    and the items shown to them in at least `shown_at_least` lists (none when None)."""
    result = await conn.exec_driver_sql(_ACTIVITY, (user_id, shown_at_least))
    niveau, filiere, items, kinds, times, shown_items, shown = tuple(result.one())
    rows = list(zip(items, kinds, times, strict=True)) if items else []
    counts = dict(zip(shown_items, shown, strict=True)) if shown_items else {}
    return Activity(niveau, filiere, rows, counts)
