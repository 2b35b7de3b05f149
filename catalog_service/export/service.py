"""Keyset-paginated reads of the catalog for a recommender's bootstrap (DESIGN §3).

Each page is `WHERE id > after_id ORDER BY id LIMIT n`: constant cost at any depth, stable under
concurrent inserts (new rows only ever appear after the last page).
"""

from typing import Any

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

# Exported table (the URL segment) → (ORM model, payload). Every payload field is a column of the
# same name, so the SELECT list and the row → payload mapping both derive from the payload.
EXPORTS: dict[str, tuple[Any, type[Payload]]] = {
    "users": (User, UserUpserted),
    "epreuves": (Epreuve, EpreuveUpserted),
    "interactions": (Interaction, InteractionCreated),
    "evaluations": (Evaluation, EvaluationUpserted),
}


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


async def export_page(
    *, session: AsyncSession, table: str, after_id: int, limit: int
) -> ExportPage[Payload]:
    """One page of `table` (a key of EXPORTS) after `after_id`, as its event payloads."""
    model, payload = EXPORTS[table]
    columns = [getattr(model, name) for name in payload.model_fields if name != "id"]
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
    return ExportPage[Payload](
        items=[payload.model_validate(dict(row._mapping)) for row in rows],
        next_after_id=rows[-1].id if more else None,
        stream_last_id=last_id,
    )
