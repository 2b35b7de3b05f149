"""Writing events into the outbox, inside the caller's transaction (never a dual write)."""

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_service.outbox.models import OutboxEvent
from shared.events import Event, Payload

# Channel the relay LISTENs on; NOTIFY is delivered only when the writer's transaction commits.
NOTIFY_CHANNEL = "catalog_outbox"
_ORDER_LOCK_SPACE = 0x0B0C  # first key of the two-key advisory lock: "outbox order per user"


async def record_event(
    *, session: AsyncSession, payload: Payload, ordering_key: int | None = None
) -> OutboxEvent:
    """Adds the event for `payload` to the session's transaction and wakes the relay on commit.

    `ordering_key` (a user id) serialises that user's concurrent writers until commit, so their
    outbox ids, and therefore the stream, follow commit order per user.
    """
    if ordering_key is not None:
        await session.execute(
            select(func.pg_advisory_xact_lock(_ORDER_LOCK_SPACE, ordering_key % 2**31))
        )
    event = Event.of(payload)
    row = OutboxEvent(
        event_id=event.event_id,
        type=event.type.value,
        occurred_at=event.occurred_at,
        schema_version=event.schema_version,
        payload=event.payload,
    )
    session.add(row)
    await session.flush()
    await session.execute(select(func.pg_notify(NOTIFY_CHANNEL, "")))
    return row
