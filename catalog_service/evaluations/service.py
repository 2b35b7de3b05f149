"""Ratings: one per user and épreuve, with the épreuve's averages kept exact in SQL.

Concurrent raters of one épreuve serialise on its row (locked first, FOR NO KEY UPDATE, which
does not block inserts that merely reference it), so that the aggregate UPDATE, computed from
the evaluation table by a statement that starts after the lock is granted, sees every
committed rating: averages and count are always those of the rows, never a Python
read-modify-write.
"""

from collections.abc import Sequence

from sqlalchemy import Boolean, Float, Update, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_service.epreuves.models import Epreuve
from catalog_service.errors import NotFound
from catalog_service.evaluations.models import Evaluation
from catalog_service.evaluations.schemas import (
    EvaluationAggregates,
    EvaluationRead,
    EvaluationSummary,
    EvaluationWrite,
)
from catalog_service.interactions.service import record_interaction
from catalog_service.outbox.service import record_event
from catalog_service.users.models import User
from shared.enums import InteractionKind
from shared.events import EvaluationUpserted

SCORES = range(1, 6)


def _not_found(epreuve_id: int) -> NotFound:
    return NotFound(f"Épreuve {epreuve_id} not found", code="epreuve_not_found")


async def upsert(
    *, session: AsyncSession, user: User, epreuve_id: int, data: EvaluationWrite
) -> tuple[EvaluationRead, bool]:
    """Creates or replaces the user's rating; returns it with the new aggregates, and whether
    it was created. Also records a RATE interaction and the `evaluation.upserted` event."""
    locked = await session.scalar(
        select(Epreuve.id)
        .where(Epreuve.id == epreuve_id, Epreuve.is_active)
        .with_for_update(key_share=True)
    )
    if locked is None:
        raise _not_found(epreuve_id)
    values = insert(Evaluation).values(
        user_id=user.id, epreuve_id=epreuve_id, difficulty=data.difficulty, relevance=data.relevance
    )
    statement = values.on_conflict_do_update(
        index_elements=[Evaluation.user_id, Evaluation.epreuve_id],
        set_={
            "difficulty": values.excluded.difficulty,
            "relevance": values.excluded.relevance,
            "updated_at": func.now(),
        },
    ).returning(
        Evaluation.created_at,
        Evaluation.updated_at,
        # xmax is 0 on a freshly inserted row version, non-zero on an updated one.
        literal_column("xmax = 0", Boolean).label("created"),
    )
    row = (await session.execute(statement)).one()
    aggregates = await _recompute(session=session, epreuve_id=epreuve_id)

    await record_interaction(
        session=session,
        user=user,
        epreuve_id=epreuve_id,
        kind=InteractionKind.RATE,
        relevance=data.relevance,
        commit=False,
    )
    event = EvaluationUpserted(
        user_id=user.id,
        epreuve_id=epreuve_id,
        difficulty=data.difficulty,
        relevance=data.relevance,
        updated_at=row.updated_at,
    )
    await record_event(session=session, payload=event, ordering_key=user.id)
    await session.commit()
    read = EvaluationRead(
        epreuve_id=epreuve_id,
        difficulty=data.difficulty,
        relevance=data.relevance,
        created_at=row.created_at,
        updated_at=row.updated_at,
        epreuve=aggregates,
    )
    return read, bool(row.created)


def averages_update(epreuve_ids: Sequence[int]) -> Update:
    """UPDATE of the épreuves' averages and count from their evaluation rows, in one statement.

    Only épreuves with at least one evaluation are touched (the rest have nothing to average).
    """
    stats = (
        select(
            Evaluation.epreuve_id,
            func.avg(Evaluation.difficulty).label("difficulty"),
            func.avg(Evaluation.relevance).label("relevance"),
            func.count().label("count"),
        )
        .where(Evaluation.epreuve_id.in_(epreuve_ids))
        .group_by(Evaluation.epreuve_id)
        .subquery()
    )
    return (
        update(Epreuve)
        .where(Epreuve.id == stats.c.epreuve_id)
        .values(
            avg_difficulty=stats.c.difficulty,
            avg_relevance=stats.c.relevance,
            evaluations=stats.c.count,
            # A rating is not an edit of the épreuve: keep its updated_at.
            updated_at=Epreuve.updated_at,
        )
    )


async def _recompute(*, session: AsyncSession, epreuve_id: int) -> EvaluationAggregates:
    """Sets the épreuve's averages and count from its rows (it has one: just upserted)."""
    result = await session.execute(
        averages_update([epreuve_id]).returning(
            Epreuve.avg_difficulty, Epreuve.avg_relevance, Epreuve.evaluations
        )
    )
    row = result.one()
    return EvaluationAggregates(
        epreuve_id=epreuve_id,
        evaluations=row.evaluations,
        avg_difficulty=row.avg_difficulty,
        avg_relevance=row.avg_relevance,
    )


async def get_own(*, session: AsyncSession, user: User, epreuve_id: int) -> EvaluationRead:
    evaluation = await session.scalar(
        select(Evaluation).where(Evaluation.user_id == user.id, Evaluation.epreuve_id == epreuve_id)
    )
    if evaluation is None:
        raise NotFound("You have not rated this épreuve", code="evaluation_not_found")
    return EvaluationRead.model_validate(evaluation)


async def summary(*, session: AsyncSession, epreuve_id: int) -> EvaluationSummary:
    """Count, averages and per-score histograms, all from one snapshot of the ratings."""
    columns = [
        func.count(),
        func.avg(Evaluation.difficulty).cast(Float),
        func.avg(Evaluation.relevance).cast(Float),
        *(func.count().filter(Evaluation.difficulty == score) for score in SCORES),
        *(func.count().filter(Evaluation.relevance == score) for score in SCORES),
    ]
    row = (await session.execute(select(*columns).where(Evaluation.epreuve_id == epreuve_id))).one()
    count, avg_difficulty, avg_relevance, *histograms = row
    return EvaluationSummary(
        epreuve_id=epreuve_id,
        evaluations=count,
        avg_difficulty=avg_difficulty,
        avg_relevance=avg_relevance,
        difficulty_histogram=dict(zip(SCORES, histograms[:5], strict=True)),
        relevance_histogram=dict(zip(SCORES, histograms[5:], strict=True)),
    )
