"""The impression log: lists recorded in memory, written in batches with their outbox events;
nothing lost while the database is away, nothing written twice, the oldest dropped past its
bound."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog_service.impressions import service
from catalog_service.impressions.log import ImpressionLog
from catalog_service.impressions.models import Impression
from catalog_service.outbox.models import OutboxEvent
from shared.database import make_engine, make_sessionmaker
from shared.enums import Arm, Surface
from shared.events import Event, EventType, ImpressionRecorded, ImpressionsRecorded

T = datetime(2026, 12, 8, 10, tzinfo=UTC)


def shown(user_id: int, item_ids: list[int], **fields: object) -> ImpressionRecorded:
    values: dict[str, object] = {
        "id": uuid.uuid4(), "user_id": user_id, "surface": Surface.RECOMMENDATIONS,
        "item_ids": item_ids, "source": "recommender", "model_version": 4, "shown_at": T,
    }  # fmt: skip
    values.update(fields)
    return ImpressionRecorded.model_validate(values)


async def _count(session: AsyncSession, model: type) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_flush_writes_each_list_and_one_event_for_them_in_one_transaction(
    app: FastAPI, make_user, session: AsyncSession
) -> None:
    user, _ = await make_user()
    log: ImpressionLog = app.state.impressions
    first = shown(user.id, [3, 1, 2], arm=Arm.CANDIDATE, experiment_id=2, strategy=None)
    second = shown(
        user.id, [5], surface=Surface.SIMILAR, anchor_id=9, source="fallback",
        model_version=None, strategy="content", shown_at=T + timedelta(seconds=1),
    )  # fmt: skip
    log.record(first)
    log.record(second)
    assert await log.flush() == 2 and len(log) == 0
    rows = (await session.scalars(select(Impression).order_by(Impression.shown_at))).all()
    assert [(r.id, r.item_ids, r.surface, r.anchor_id, r.source, r.strategy) for r in rows] == [
        (first.id, [3, 1, 2], Surface.RECOMMENDATIONS, None, "recommender", None),
        (second.id, [5], Surface.SIMILAR, 9, "fallback", "content"),
    ]
    assert (rows[0].arm, rows[0].experiment_id, rows[0].model_version) == (Arm.CANDIDATE, 2, 4)
    events = (await session.scalars(
        select(OutboxEvent).where(OutboxEvent.type == EventType.IMPRESSIONS_RECORDED.value)
    )).all()  # fmt: skip
    parsed = [Event(type=e.type, payload=e.payload).parsed() for e in events]
    assert parsed == [ImpressionsRecorded(lists=[first, second])]
    assert [e.occurred_at for e in events] == [T + timedelta(seconds=1)]  # the latest list


async def test_a_list_written_again_gets_no_second_row_or_event(
    app: FastAPI, make_user, session: AsyncSession
) -> None:
    user, _ = await make_user()
    once = shown(user.id, [1, 2])
    for _ in range(2):
        async with app.state.sessionmaker() as db, db.begin():
            await service.write(session=db, impressions=[once, once])
    assert await _count(session, Impression) == 1
    assert await _count(session, OutboxEvent) == 2  # the user's own upsert, and this batch


async def test_lists_wait_while_the_database_is_unreachable_and_are_written_after(
    app: FastAPI, make_user, session: AsyncSession
) -> None:
    user, _ = await make_user()
    dead = make_engine("postgresql://nobody@127.0.0.1:1/none", pool_size=1)
    down: async_sessionmaker[AsyncSession] = make_sessionmaker(dead)
    log = ImpressionLog(down, max_batch=2)
    lists = [shown(user.id, [n]) for n in range(5)]
    for payload in lists:
        log.record(payload)
    try:
        await log.flush()
    except Exception as exc:
        assert "connect" in repr(exc).lower() or isinstance(exc, OSError)
    else:
        raise AssertionError("a flush to an unreachable database must raise")
    finally:
        await dead.dispose()
    assert len(log) == 5 and log.dropped == 0
    log.sessionmaker = app.state.sessionmaker  # the database is back
    assert await log.flush() == 5
    ids = set((await session.scalars(select(Impression.id))).all())
    assert ids == {p.id for p in lists}


async def test_past_its_bound_the_log_drops_the_oldest_lists(app: FastAPI, make_user) -> None:
    user, _ = await make_user()
    log = ImpressionLog(app.state.sessionmaker, max_pending=3)
    lists = [shown(user.id, [n]) for n in range(5)]
    for payload in lists:
        log.record(payload)
    assert (len(log), log.dropped) == (3, 2)
    assert await log.flush() == 3


async def test_the_running_log_writes_a_full_batch_without_waiting_and_the_rest_at_stop(
    app: FastAPI, make_user, session: AsyncSession
) -> None:
    user, _ = await make_user()
    log = ImpressionLog(app.state.sessionmaker, flush_seconds=3600, max_batch=3)
    stop = asyncio.Event()
    running = asyncio.create_task(log.run(stop))
    for n in range(3):
        log.record(shown(user.id, [n]))
    for _ in range(300):  # a full batch wakes the flusher; an hour's timer would not
        if log.written >= 3:
            break
        await asyncio.sleep(0.05)
    assert log.written == 3
    log.record(shown(user.id, [3]))
    assert len(log) == 1
    stop.set()
    await asyncio.wait_for(running, 30)
    assert await _count(session, Impression) == 4
