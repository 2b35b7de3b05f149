"""Keyset-paginated reads of the catalog for a recommender's bootstrap (DESIGN §3).

Each page is `WHERE id > after_id ORDER BY id LIMIT n`: constant cost at any depth, stable under
concurrent inserts (new rows only ever appear after the last page).
"""

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_service.epreuves.models import Epreuve
from catalog_service.evaluations.models import Evaluation
from catalog_service.export.schemas import ExportPage
from catalog_service.interactions.models import Interaction
from catalog_service.outbox.models import OutboxEvent
from catalog_service.users.models import User
from shared.events import (
    EpreuveUpserted,
    EvaluationUpserted,
    InteractionCreated,
    Payload,
    UserUpserted,
)

P = TypeVar("P", bound=Payload)


async def stream_last_id(*, session: AsyncSession) -> str:
    """The stream id of the most recently published outbox row (by id: cheap on the primary key).

    A later-committed row with a smaller id may already be on the stream after it; starting from
    this id then only redelivers it, never skips one.
    """
    last = await session.scalar(
        select(OutboxEvent.stream_id)
        .where(OutboxEvent.published_at.is_not(None))
        .order_by(OutboxEvent.id.desc())
        .limit(1)
    )
    return last or "0-0"


async def _page(
    *,
    session: AsyncSession,
    model: Any,
    columns: Sequence[Any],
    to_payload: Callable[[Any], P],
    after_id: int,
    limit: int,
) -> ExportPage[P]:
    last_id = await stream_last_id(session=session)
    rows = (
        await session.execute(
            select(model.id, *columns)
            .where(model.id > after_id)
            .order_by(model.id)
            .limit(limit + 1)
        )
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return ExportPage[P](
        items=[to_payload(row) for row in rows],
        next_after_id=rows[-1].id if more else None,
        stream_last_id=last_id,
    )


async def users(*, session: AsyncSession, after_id: int, limit: int) -> ExportPage[UserUpserted]:
    return await _page(
        session=session,
        model=User,
        columns=[User.niveau, User.filiere, User.role, User.is_active],
        to_payload=lambda r: UserUpserted(
            id=r.id, niveau=r.niveau, filiere=r.filiere, role=r.role, is_active=r.is_active
        ),
        after_id=after_id,
        limit=limit,
    )


async def epreuves(
    *, session: AsyncSession, after_id: int, limit: int
) -> ExportPage[EpreuveUpserted]:
    return await _page(
        session=session,
        model=Epreuve,
        columns=[
            Epreuve.title,
            Epreuve.matiere,
            Epreuve.filiere,
            Epreuve.niveau,
            Epreuve.type,
            Epreuve.annee,
            Epreuve.is_active,
        ],
        to_payload=lambda r: EpreuveUpserted(
            id=r.id,
            title=r.title,
            matiere=r.matiere,
            filiere=r.filiere,
            niveau=r.niveau,
            type=r.type,
            annee=r.annee,
            is_active=r.is_active,
        ),
        after_id=after_id,
        limit=limit,
    )


async def interactions(
    *, session: AsyncSession, after_id: int, limit: int
) -> ExportPage[InteractionCreated]:
    return await _page(
        session=session,
        model=Interaction,
        columns=[
            Interaction.user_id,
            Interaction.epreuve_id,
            Interaction.kind,
            Interaction.created_at,
            Interaction.relevance,
        ],
        to_payload=lambda r: InteractionCreated(
            id=r.id,
            user_id=r.user_id,
            epreuve_id=r.epreuve_id,
            kind=r.kind,
            created_at=r.created_at,
            relevance=r.relevance,
        ),
        after_id=after_id,
        limit=limit,
    )


async def evaluations(
    *, session: AsyncSession, after_id: int, limit: int
) -> ExportPage[EvaluationUpserted]:
    return await _page(
        session=session,
        model=Evaluation,
        columns=[
            Evaluation.user_id,
            Evaluation.epreuve_id,
            Evaluation.difficulty,
            Evaluation.relevance,
            Evaluation.updated_at,
        ],
        to_payload=lambda r: EvaluationUpserted(
            user_id=r.user_id,
            epreuve_id=r.epreuve_id,
            difficulty=r.difficulty,
            relevance=r.relevance,
            updated_at=r.updated_at,
        ),
        after_id=after_id,
        limit=limit,
    )
