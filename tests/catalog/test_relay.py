"""The outbox relay on a real PostgreSQL and a real Redis: order, wake-up, replicas, outages."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from catalog_service.outbox.models import OutboxEvent
from catalog_service.outbox.relay import OutboxRelay
from catalog_service.outbox.service import record_event
from catalog_service.outbox.wakeup import NOTIFY_CHANNEL
from shared.devstack import EmbeddedRedis
from shared.events import Event, UserUpserted
from tests.catalog.fixtures_events import (
    STREAM,
    engine_fixture,  # noqa: F401
    pending_count,
    redis_client_fixture,  # noqa: F401
    sessions_fixture,  # noqa: F401
    stream_events,
    wait_until,
)


async def _write(sessions: async_sessionmaker[AsyncSession], user_ids: list[int]) -> list[int]:
    """One transaction with one outbox row per user id; returns the rows' ids."""
    async with sessions() as session, session.begin():
        return [
            await record_event(session=session, payload=UserUpserted(id=u), ordering_key=u)
            for u in user_ids
        ]


async def _rows(sessions: async_sessionmaker[AsyncSession]) -> list[OutboxEvent]:
    async with sessions() as session:
        return list(await session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))


async def test_publish_pending_appends_rows_in_id_order_and_marks_them_published(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    redis_client: aioredis.Redis,
) -> None:
    await _write(sessions, [1, 2, 3])
    await _write(sessions, [4, 5])
    relay = OutboxRelay(engine=engine, redis=redis_client, stream=STREAM, batch_size=2)

    assert await relay.publish_pending() == 5

    entries = await stream_events(redis_client)
    rows = await _rows(sessions)
    assert [event.event_id for _, event in entries] == [row.event_id for row in rows]
    assert [event.payload["id"] for _, event in entries] == [1, 2, 3, 4, 5]
    assert [row.stream_id for row in rows] == [entry_id for entry_id, _ in entries]
    assert all(row.published_at is not None for row in rows)
    assert entries[0][1].occurred_at == rows[0].occurred_at


async def test_publish_pending_returns_zero_when_nothing_is_pending(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], redis_client: aioredis.Redis
) -> None:
    await _write(sessions, [1])
    relay = OutboxRelay(engine=engine, redis=redis_client, stream=STREAM)
    assert await relay.publish_pending() == 1

    assert await relay.publish_pending() == 0
    assert len(await stream_events(redis_client)) == 1


async def test_a_local_commit_wakes_the_relay_long_before_the_poll_interval(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], redis_client: aioredis.Redis
) -> None:
    relay = OutboxRelay(engine=engine, redis=redis_client, stream=STREAM, poll_interval=60)
    await relay.start()
    try:
        await _wait_listening(engine)
        for user in range(1, 6):
            await _write(sessions, [user])
            # Far below the 60 s poll: only a wake-up can publish within the bound.
            await wait_until(_stream_has(redis_client, user), limit=20)
    finally:
        await relay.stop()


async def test_two_relays_publish_each_row_once_in_commit_order(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], redis_client: aioredis.Redis
) -> None:
    relays = [
        OutboxRelay(
            engine=engine, redis=redis_client, stream=STREAM, poll_interval=0.02, batch_size=7
        )
        for _ in range(2)
    ]
    for relay in relays:
        await relay.start()
    try:
        ids: list[int] = []
        for start in range(0, 400, 10):  # sequential commits: commit order = id order
            ids += await _write(sessions, list(range(start, start + 10)))
        await wait_until(_stream_has(redis_client, 400), limit=30)
    finally:
        for relay in relays:
            await relay.stop()

    entries = await stream_events(redis_client)
    rows = {row.id: row for row in await _rows(sessions)}
    assert [event.event_id for _, event in entries] == [rows[i].event_id for i in ids]
    assert await pending_count(sessions) == 0


async def test_redis_outage_keeps_rows_pending_and_delivers_the_backlog_once(
    tmp_path: Path, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    server = EmbeddedRedis(tmp_path / "r").start()
    client = aioredis.from_url(server.url)
    relay = OutboxRelay(engine=engine, redis=client, stream=STREAM, poll_interval=0.05)
    await relay.start()
    try:
        await _write(sessions, [1, 2])
        await wait_until(_stream_has(client, 2))

        server.stop()
        for user in range(3, 23):
            await _write(sessions, [user])  # writes never need Redis
        await asyncio.sleep(0.5)
        assert await pending_count(sessions) == 20
        assert not any(task.done() for task in relay._tasks)

        server.start()
        await wait_until(_stream_has(client, 22), limit=30)
        await wait_until(lambda: _none_pending(sessions))
    finally:
        await relay.stop()
        entries = await stream_events(client)
        await client.aclose()
        server.stop()

    assert [event.payload["id"] for _, event in entries] == list(range(1, 23))
    assert len({event.event_id for _, event in entries}) == 22


async def test_events_already_on_the_stream_are_not_appended_twice(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], redis_client: aioredis.Redis
) -> None:
    """A relay that appended a batch but died before its commit left rows pending."""
    await _write(sessions, [1, 2, 3, 4, 5])
    rows = await _rows(sessions)
    stale = [
        await redis_client.xadd(STREAM, Event.model_validate(row, from_attributes=True).to_fields())
        for row in rows[:3]
    ]
    relay = OutboxRelay(engine=engine, redis=redis_client, stream=STREAM)

    assert await relay.publish_pending() == 5

    entries = await stream_events(redis_client)
    assert [event.payload["id"] for _, event in entries] == [1, 2, 3, 4, 5]
    assert [entry_id for entry_id, _ in entries[:3]] == [s.decode() for s in stale]
    assert [row.stream_id for row in await _rows(sessions)] == [e for e, _ in entries]


async def test_a_notify_from_another_process_wakes_the_relay(
    engine: AsyncEngine, redis_client: aioredis.Redis
) -> None:
    relay = OutboxRelay(engine=engine, redis=redis_client, stream=STREAM, poll_interval=60)
    await relay.start()
    try:
        await _wait_listening(engine)
        await _external_write(engine, 7)
        await wait_until(_stream_has(redis_client, 1), limit=20)  # the poll is 60 s
    finally:
        await relay.stop()


async def test_local_commits_are_forwarded_to_other_replicas_as_one_notify(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], redis_client: aioredis.Redis
) -> None:
    relay = OutboxRelay(engine=engine, redis=redis_client, stream=STREAM, poll_interval=60)
    received: asyncio.Queue[int] = asyncio.Queue()
    other = await _connect(engine)  # stands for another replica's relay
    await other.add_listener(NOTIFY_CHANNEL, lambda _c, pid, _ch, _p: received.put_nowait(pid))
    await relay.start()
    try:
        relay_pid = await _wait_listening(engine)
        await _write(sessions, [1, 2, 3])
        assert await asyncio.wait_for(received.get(), timeout=2) == relay_pid
        await wait_until(_stream_has(redis_client, 3))
    finally:
        await relay.stop()
        await other.close()


async def test_record_event_notifies_in_its_transaction_when_no_relay_runs_here(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    received: asyncio.Queue[int] = asyncio.Queue()
    listener = await _connect(engine)
    await listener.add_listener(NOTIFY_CHANNEL, lambda _c, pid, _ch, _p: received.put_nowait(pid))
    try:
        await _write(sessions, [1])
        await asyncio.wait_for(received.get(), timeout=2)
    finally:
        await listener.close()


async def test_record_event_holds_the_users_order_lock_until_commit(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    query = (
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND classid = $1 AND objid = $2 AND objsubid = 2"
    )
    async with sessions() as session:
        await record_event(session=session, payload=UserUpserted(id=42), ordering_key=42)
        held = await _admin_fetch(engine, query, 0x0B0C, 42)
        await session.commit()
    after = await _admin_fetch(engine, query, 0x0B0C, 42)

    assert [held[0][0], after[0][0]] == [1, 0]


async def test_relay_listens_again_after_its_connection_is_killed(
    engine: AsyncEngine, redis_client: aioredis.Redis
) -> None:
    relay = OutboxRelay(engine=engine, redis=redis_client, stream=STREAM, poll_interval=60)
    await relay.start()
    try:
        first = await _wait_listening(engine)
        await _admin_fetch(engine, "SELECT pg_terminate_backend($1)", first)
        await _wait_listening(engine, other_than=first)

        async def first_gone() -> bool:
            query = "SELECT pid FROM pg_stat_activity WHERE pid = $1"
            return await _admin_fetch(engine, query, first) == []

        await wait_until(first_gone, limit=20)
        await _external_write(engine, 7)
        await wait_until(_stream_has(redis_client, 1), limit=20)  # the poll is 60 s
    finally:
        await relay.stop()


async def test_retention_deletes_only_old_published_rows(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], redis_client: aioredis.Redis
) -> None:
    relay = OutboxRelay(engine=engine, redis=redis_client, stream=STREAM)
    old, recent = await _write(sessions, [1, 2])
    await relay.publish_pending()
    [pending] = await _write(sessions, [3])  # never published: kept whatever its age
    async with sessions() as session, session.begin():
        await session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id.in_([old, pending]))
            .values(created_at=func.now() - timedelta(days=8))
        )
        await session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id == old)
            .values(published_at=func.now() - timedelta(days=8))
        )

    await relay._purge_published()

    assert [row.id for row in await _rows(sessions)] == [recent, pending]


# --- helpers -------------------------------------------------------------------------------


def _stream_has(client: aioredis.Redis, count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return int(await client.xlen(STREAM)) >= count

    return check


async def _none_pending(sessions: async_sessionmaker[AsyncSession]) -> bool:
    return await pending_count(sessions) == 0


async def _connect(engine: AsyncEngine) -> asyncpg.Connection:
    connect_args, connect_kwargs = engine.dialect.create_connect_args(engine.url)
    return await asyncpg.connect(*connect_args, **connect_kwargs)


async def _external_write(engine: AsyncEngine, user_id: int) -> None:
    """An outbox row written by a process without a relay: NOTIFY inside its transaction."""
    conn = await _connect(engine)
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO catalog.outbox_event (event_id, type, occurred_at, schema_version, "
                "payload) VALUES (gen_random_uuid(), 'user.upserted', now(), 1, $1::jsonb)",
                f'{{"id": {user_id}}}',
            )
            await conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")
    finally:
        await conn.close()


async def _admin_fetch(engine: AsyncEngine, query: str, *params: object) -> list[asyncpg.Record]:
    conn = await _connect(engine)
    try:
        return await conn.fetch(query, *params)
    finally:
        await conn.close()


async def _wait_listening(engine: AsyncEngine, other_than: int | None = None) -> int:
    """The backend pid of the relay's LISTEN connection, once it is listening."""
    query = (
        "SELECT pid FROM pg_stat_activity "
        "WHERE application_name = 'catalog-outbox-relay' AND datname = current_database()"
    )
    pids: list[int] = []

    async def listening() -> bool:
        pids[:] = [r["pid"] for r in await _admin_fetch(engine, query) if r["pid"] != other_than]
        return bool(pids)

    await wait_until(listening, limit=10)
    await asyncio.sleep(0.1)  # LISTEN is issued right after the connection opens
    return pids[0]
