"""Writing events into the outbox, inside the caller's transaction (never a dual write).

The only code that writes outbox rows: every domain change, one at a time or a batch at once,
hands its typed `shared.events` payloads to `record_events` (or `record_event`; the group
commit, in a transaction on the driver connection, `record_events_on`), which builds
each event, takes the per-user ordering locks, inserts the rows and has the relays woken by the
caller's COMMIT (see outbox.wakeup).

Ordering: a user's concurrent writers are serialised until commit by a transaction-level
advisory lock per user, taken before the insert draws the rows' ids from the sequence, so that
one user's outbox ids, and therefore the stream, follow commit order. Several keys are locked in
ascending order, so two batches never deadlock on them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from catalog_service.outbox.models import OutboxEvent
from catalog_service.outbox.wakeup import notify_unless_served, wake_on_commit
from shared.events import SCHEMA_VERSION, Payload, event_type

_ORDER_LOCK_SPACE = 0x0B0C  # first key of the two-key advisory lock: "outbox order per user"

# One statement for one event or thousands: the inputs as arrays (one prepared statement for
# any size), ids drawn in input order (ORDER BY ord). The locks are an uncorrelated subquery in
# the filter, evaluated once before the first row reaches the insert, hence before any id.
# Driver SQL: no SQLAlchemy compile step (measured ~0.3 ms a call under load).
# The event ids are random UUIDs drawn by PostgreSQL (no Python uuid4 and encoding per event).
_INSERT = """
INSERT INTO catalog.outbox_event (event_id, type, occurred_at, schema_version, payload)
SELECT gen_random_uuid(), e.type, e.occurred_at, $4::int, CAST(e.payload AS jsonb)
FROM unnest($1::text[], $2::timestamptz[], $3::text[])
    WITH ORDINALITY AS e (type, occurred_at, payload, ord)
WHERE (SELECT count(pg_advisory_xact_lock($5::int, k)) FROM unnest($6::int[]) AS k) IS NOT NULL
ORDER BY e.ord
RETURNING id"""


async def record_events(
    *,
    session: AsyncSession,
    payloads: Sequence[Payload],
    ordering_keys: Iterable[int] = (),
    occurred_at: datetime | Sequence[datetime] | None = None,
) -> list[int]:
    """Adds one event per payload, in order, to the session's transaction; returns their ids.

    `ordering_keys` (user ids) are locked until commit first (see the module docstring).
    `occurred_at`: one time for all, one per payload, or now. The relays are woken at COMMIT;
    a rollback leaves no row and wakes nothing.
    """
    if not payloads:
        return []
    conn = await session.connection()
    args = _insert_args(payloads, ordering_keys, occurred_at)
    ids = sorted((await conn.exec_driver_sql(_INSERT, args)).scalars())
    await wake_on_commit(session)
    return ids


async def record_events_on(
    driver: asyncpg.Connection,
    *,
    engine: AsyncEngine,
    payloads: Sequence[Payload],
    ordering_keys: Iterable[int] = (),
    occurred_at: datetime | Sequence[datetime] | None = None,
) -> list[int]:
    """`record_events` in a transaction the caller holds on `engine`'s driver connection (the
    group commit's, `shared.database.driver_connection`): the same rows, locks and order. After
    its COMMIT, the caller wakes the relays with `outbox.wakeup.committed(engine)`."""
    if not payloads:
        return []
    args = _insert_args(payloads, ordering_keys, occurred_at)
    ids = sorted(row[0] for row in await driver.fetch(_INSERT, *args))
    await notify_unless_served(driver, engine)
    return ids


def _insert_args(
    payloads: Sequence[Payload],
    ordering_keys: Iterable[int],
    occurred_at: datetime | Sequence[datetime] | None,
) -> tuple[Any, ...]:
    if occurred_at is None or isinstance(occurred_at, datetime):
        occurred = [occurred_at or datetime.now(UTC)] * len(payloads)
    else:
        occurred = list(occurred_at)
        if len(occurred) != len(payloads):
            raise ValueError("occurred_at needs one time per payload")
    keys = sorted({k % 2**31 for k in ordering_keys})  # int4, the lock's second key
    return (
        [event_type(p).value for p in payloads],
        occurred,
        # JSON mode, as Event.of dumps it; straight to JSON text (pydantic-core, ~3 µs).
        [p.model_dump_json() for p in payloads],
        SCHEMA_VERSION,
        _ORDER_LOCK_SPACE,
        keys,
    )


async def record_event(
    *,
    session: AsyncSession,
    payload: Payload,
    ordering_key: int | None = None,
    occurred_at: datetime | None = None,
) -> int:
    """`record_events` for one payload; returns the outbox row's id."""
    keys = () if ordering_key is None else (ordering_key,)
    [row_id] = await record_events(
        session=session, payloads=[payload], ordering_keys=keys, occurred_at=occurred_at
    )
    return row_id


@dataclass(frozen=True)
class Backlog:
    pending: int  # events not yet on the stream
    oldest_pending_age_s: float | None  # a growing value: the relay or Redis is stuck


async def backlog(*, session: AsyncSession) -> Backlog:
    """What the relay has yet to publish (the admin dashboard and `outbox-backlog` show it)."""
    age = func.extract("epoch", func.now() - func.min(OutboxEvent.created_at))
    query = select(func.count(), age).where(OutboxEvent.published_at.is_(None))
    count, oldest = (await session.execute(query)).one()
    return Backlog(
        pending=int(count), oldest_pending_age_s=None if oldest is None else float(oldest)
    )
