"""Recording interactions inside a caller's transaction (VIEW on read, DOWNLOAD, RATE).

POST /v1/interactions goes through `batcher.IngestBatcher` (group commit) instead.
One interaction is one SQL statement (then the commit): a CTE that checks the épreuve is active
and, for VIEW / DOWNLOAD, bumps its counter; inserts the interaction; takes the user's outbox
order lock and inserts the `interaction.created` outbox row, whose payload is completed in SQL
with the new row's id and created_at (no ORM object, no unit-of-work flush).
"""

import json
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_service.errors import NotFound, Unauthorized
from catalog_service.interactions.models import Interaction
from catalog_service.outbox.service import (
    order_lock_keys,
    wake_relays_on_commit,
)
from catalog_service.pagination import PageParams
from shared.enums import InteractionKind
from shared.events import Event, EventType

_COUNTERS = {InteractionKind.VIEW: "views", InteractionKind.DOWNLOAD: "downloads"}

# created_at rendered exactly as pydantic's JSON mode does (the payload of Event.of).
_ISO_UTC = """to_char(i.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
    || CASE WHEN date_part('microseconds', i.created_at)::bigint % 1000000 = 0 THEN ''
            ELSE to_char(i.created_at AT TIME ZONE 'UTC', '.US') END || 'Z'"""


# The advisory lock is in the outbox source row's filter, so it is held before the insert draws
# the outbox id: one user's events reach the stream in commit order (see outbox.service).
# The user's check is in the statement too (a deactivated user's token is refused).
_TEMPLATE = """
WITH u AS (SELECT FROM catalog."user" WHERE id = :user_id AND is_active),
target AS (<TARGET>),
i AS (
    INSERT INTO catalog.interaction (user_id, epreuve_id, kind, metadata, relevance)
    SELECT :user_id, target.id, :kind, CAST(:metadata AS jsonb), :relevance FROM target
    RETURNING id, created_at
),
o AS (
    INSERT INTO catalog.outbox_event (event_id, type, occurred_at, schema_version, payload)
    SELECT :event_id, :type, :occurred_at, :schema_version,
           CAST(:payload AS jsonb) || jsonb_build_object('id', i.id, 'created_at', <ISO>)
    FROM i WHERE pg_advisory_xact_lock(:lock_space, :lock_key) IS NOT NULL
)
SELECT EXISTS (SELECT FROM u) AS user_ok, i.id, i.created_at
FROM (VALUES (1)) AS one (x) LEFT JOIN i ON true"""


def _statement(target: str) -> Any:
    # Only the module constants are spliced in, never a request value.
    return text(_TEMPLATE.replace("<TARGET>", target).replace("<ISO>", _ISO_UTC))


_ACTIVE = "id = :epreuve_id AND is_active AND EXISTS (SELECT FROM u)"
_SELECT_TARGET = "SELECT id FROM catalog.epreuve WHERE <A>".replace("<A>", _ACTIVE)
# A view is not an edit: updated_at keeps its value (raw SQL runs no ORM onupdate).
_STATEMENTS = {
    kind: _statement(
        "UPDATE catalog.epreuve SET <C> = <C> + 1 WHERE <A> RETURNING id".replace(
            "<C>", column
        ).replace("<A>", _ACTIVE)
    )
    for kind, column in _COUNTERS.items()
}
_PLAIN = _statement(_SELECT_TARGET)


class Actor(Protocol):
    @property
    def id(self) -> int: ...


def _prepare(
    user_id: int,
    epreuve_id: int,
    kind: InteractionKind,
    metadata: dict[str, Any] | None,
    relevance: int | None,
) -> tuple[Any, dict[str, Any]]:
    # The payload less the two values the database assigns (id, created_at).
    payload: dict[str, Any] = {
        "user_id": user_id,
        "epreuve_id": epreuve_id,
        "kind": kind.value,
        "relevance": relevance,
    }
    event = Event(type=EventType.INTERACTION_CREATED, payload=payload)
    lock_space, lock_key = order_lock_keys(user_id)
    return _STATEMENTS.get(kind, _PLAIN), {
        "epreuve_id": epreuve_id,
        "user_id": user_id,
        "kind": kind.value,
        "metadata": None if metadata is None else json.dumps(metadata),
        "relevance": relevance,
        "event_id": event.event_id,
        "type": event.type.value,
        "occurred_at": event.occurred_at,
        "schema_version": event.schema_version,
        "payload": json.dumps(payload),
        "lock_space": lock_space,
        "lock_key": lock_key,
    }


def _written(row: Any, params: dict[str, Any], metadata: dict[str, Any] | None) -> Interaction:
    if not row.user_ok:
        raise Unauthorized("User is unknown or deactivated", code="inactive_user")
    if row.id is None:
        raise NotFound(f"Épreuve {params['epreuve_id']} not found", code="epreuve_not_found")
    return Interaction(
        id=row.id,
        user_id=params["user_id"],
        epreuve_id=params["epreuve_id"],
        kind=InteractionKind(params["kind"]),
        meta=metadata,
        relevance=params["relevance"],
        created_at=row.created_at,
    )


async def record_interaction(
    *,
    session: AsyncSession,
    user: Actor,
    epreuve_id: int,
    kind: InteractionKind,
    metadata: dict[str, Any] | None = None,
    relevance: int | None = None,
    commit: bool = True,
) -> Interaction:
    """Writes the interaction and its `interaction.created` event in one transaction.

    404 when the épreuve does not exist or is deleted, 401 when the user is deactivated.
    `commit=False` leaves the transaction open for a caller that writes more in it. Returns the
    row as written (not attached to the session).
    """
    statement, params = _prepare(user.id, epreuve_id, kind, metadata, relevance)
    conn = await session.connection()
    interaction = _written((await conn.execute(statement, params)).one(), params, metadata)
    await wake_relays_on_commit(session)
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
