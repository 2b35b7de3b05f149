"""The outbox owner: typed events in the caller's transaction, order locks, relay wake-ups."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from catalog_service.outbox import wakeup
from catalog_service.outbox.models import OutboxEvent
from catalog_service.outbox.service import record_events
from shared.database import make_engine, make_sessionmaker
from shared.enums import InteractionKind
from shared.events import EventType, InteractionCreated, UserDeleted, UserUpserted
from tests.catalog.fixtures_events import (
    engine_fixture,  # noqa: F401
    sessions_fixture,  # noqa: F401
)

T = datetime(2026, 3, 4, 5, 6, 7, 890_000, tzinfo=UTC)


async def _rows(sessions: async_sessionmaker[AsyncSession]) -> list[OutboxEvent]:
    async with sessions() as session:
        return list(await session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))


async def _connect(engine: AsyncEngine) -> asyncpg.Connection:
    args, kwargs = engine.dialect.create_connect_args(engine.url)
    return await asyncpg.connect(*args, **kwargs)


async def test_record_events_writes_each_typed_payload_in_order(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    payloads = [
        UserUpserted(id=7),
        InteractionCreated(id=1, user_id=7, epreuve_id=3, kind=InteractionKind.CLICK, created_at=T),
        UserDeleted(id=7),
    ]
    stamps = [T, T + timedelta(seconds=1), T + timedelta(seconds=2)]
    async with sessions() as session, session.begin():
        ids = await record_events(
            session=session, payloads=payloads, ordering_keys=[7], occurred_at=stamps
        )

    rows = await _rows(sessions)
    assert [row.id for row in rows] == ids == sorted(ids)
    assert [row.type for row in rows] == [
        EventType.USER_UPSERTED,
        EventType.INTERACTION_CREATED,
        EventType.USER_DELETED,
    ]
    assert [row.payload for row in rows] == [p.model_dump(mode="json") for p in payloads]
    assert [row.occurred_at for row in rows] == stamps
    assert len({row.event_id for row in rows}) == 3
    assert {row.schema_version for row in rows} == {1}


async def test_record_events_holds_each_users_order_lock_until_commit(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    query = (
        "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND classid = $1 AND objsubid = 2 ORDER BY objid"
    )
    observer = await _connect(engine)
    try:
        async with sessions() as session:
            payloads = [UserUpserted(id=u) for u in (9, 4, 9, 2**31 + 5)]
            await record_events(
                session=session, payloads=payloads, ordering_keys=[9, 4, 9, 2**31 + 5]
            )
            held = [r["objid"] for r in await observer.fetch(query, 0x0B0C)]
            await session.commit()
        after = await observer.fetch(query, 0x0B0C)
    finally:
        await observer.close()

    assert held == [4, 5, 9]  # user ids as int4 keys, each once
    assert after == []


async def test_a_rolled_back_transaction_leaves_no_outbox_row_and_wakes_no_relay(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    wakes: list[int] = []

    def hook() -> None:
        wakes.append(1)

    wakeup.attach(engine, hook)
    try:
        async with sessions() as session:
            await record_events(session=session, payloads=[UserUpserted(id=1), UserDeleted(id=1)])
            await session.rollback()
            assert wakes == []
            await record_events(session=session, payloads=[UserUpserted(id=2)])
            await session.commit()
    finally:
        wakeup.detach(engine, hook)

    assert wakes == [1]  # the committed write only
    assert [row.payload for row in await _rows(sessions)] == [{"id": 2, **_user_defaults()}]


async def test_a_writer_on_another_engine_notifies_though_a_relay_runs_for_this_one(
    engine: AsyncEngine, database_url: str
) -> None:
    """Wake-ups are per engine: a relay of this process on `engine` does not make a writer on
    another engine skip the NOTIFY that the relays of that engine's database rely on."""
    wakes: list[int] = []

    def hook() -> None:
        wakes.append(1)

    received: asyncio.Queue[int] = asyncio.Queue()
    listener = await _connect(engine)
    await listener.add_listener(
        wakeup.NOTIFY_CHANNEL, lambda _c, pid, _ch, _p: received.put_nowait(pid)
    )
    other = make_engine(database_url, pool_size=1)
    wakeup.attach(engine, hook)
    try:
        async with make_sessionmaker(other)() as session, session.begin():
            await record_events(session=session, payloads=[UserUpserted(id=3)])
        await asyncio.wait_for(received.get(), timeout=10)
    finally:
        wakeup.detach(engine, hook)
        await listener.close()
        await other.dispose()
    assert wakes == []


async def test_an_empty_batch_writes_nothing(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        assert await record_events(session=session, payloads=[]) == []
        count = await session.scalar(select(func.count()).select_from(OutboxEvent))
    assert count == 0


def _user_defaults() -> dict[str, object]:
    return {"niveau": None, "filiere": None, "role": "student", "is_active": True}
