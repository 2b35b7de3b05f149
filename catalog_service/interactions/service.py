"""Recording interactions: the catalog's hot write path.

One interaction costs one statement for the row (a CTE that checks the épreuve is active and,
for VIEW / DOWNLOAD, bumps its counter in SQL), the outbox event, and the commit.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, func, insert, literal, null, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_service.epreuves.models import Epreuve
from catalog_service.errors import NotFound
from catalog_service.interactions.models import Interaction
from catalog_service.outbox.service import record_event
from catalog_service.pagination import PageParams
from catalog_service.users.models import User
from shared.enums import InteractionKind
from shared.events import InteractionCreated

_COUNTERS = {InteractionKind.VIEW: Epreuve.views, InteractionKind.DOWNLOAD: Epreuve.downloads}


async def record_interaction(
    *,
    session: AsyncSession,
    user: User,
    epreuve_id: int,
    kind: InteractionKind,
    metadata: dict[str, Any] | None = None,
    relevance: int | None = None,
    commit: bool = True,
) -> Interaction:
    """Writes the interaction and its `interaction.created` event in one transaction.

    404 when the épreuve does not exist or is deleted. `commit=False` leaves the transaction
    open for a caller that writes more in it.
    """
    counter = _COUNTERS.get(kind)
    if counter is not None:
        target = (
            update(Epreuve)
            .where(Epreuve.id == epreuve_id, Epreuve.is_active)
            # A view is not an edit: updated_at keeps its value.
            .values({counter: counter + 1, Epreuve.updated_at: Epreuve.updated_at})
            .returning(Epreuve.id)
            .cte("target")
        )
    else:
        target = select(Epreuve.id).where(Epreuve.id == epreuve_id, Epreuve.is_active).cte("target")
    statement = (
        insert(Interaction)
        .from_select(
            ["user_id", "epreuve_id", "kind", "metadata", "relevance"],
            select(
                literal(user.id, BigInteger),
                target.c.id,
                literal(kind.value),
                null() if metadata is None else literal(metadata, Interaction.meta.type),
                literal(relevance, Interaction.relevance.type),
            ),
        )
        .returning(Interaction.id, Interaction.created_at)
    )
    row = (await session.execute(statement)).one_or_none()
    if row is None:
        raise NotFound(f"Épreuve {epreuve_id} not found", code="epreuve_not_found")
    interaction = Interaction(
        id=row.id,
        user_id=user.id,
        epreuve_id=epreuve_id,
        kind=kind,
        meta=metadata,
        relevance=relevance,
        created_at=row.created_at,
    )
    payload = InteractionCreated(
        id=row.id,
        user_id=user.id,
        epreuve_id=epreuve_id,
        kind=kind,
        created_at=row.created_at,
        relevance=relevance,
    )
    await record_event(session=session, payload=payload, ordering_key=user.id)
    if commit:
        await session.commit()
    return interaction


async def list_for_user(
    *, session: AsyncSession, user_id: int, kind: InteractionKind | None, page: PageParams
) -> tuple[Sequence[Interaction], int]:
    conditions = [Interaction.user_id == user_id]
    if kind is not None:
        conditions.append(Interaction.kind == kind)
    total = await session.scalar(select(func.count()).select_from(Interaction).where(*conditions))
    rows = await session.scalars(
        select(Interaction)
        .where(*conditions)
        .order_by(Interaction.created_at.desc(), Interaction.id.desc())
        .limit(page.limit)
        .offset(page.offset)
    )
    return rows.all(), total or 0
