"""Impression events in the recommender's read model: per (user, item) counts for rotation,
each list counted once however often it is delivered, by either consumer path."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recommender_service.config import Settings
from recommender_service.consumer.runner import make_consumer
from recommender_service.readmodel import service as readmodel
from recommender_service.readmodel.bulk import Applied, apply_batch
from recommender_service.readmodel.models import Impression, ImpressionCount
from recommender_service.readmodel.service import NO_CHANGE, apply_payload
from shared.enums import Arm, Filiere, Niveau, Surface
from shared.events import Event, ImpressionRecorded, ImpressionsRecorded, UserDeleted, UserUpserted
from tests.recommender.conftest import STREAM, publish

T = datetime(2026, 12, 1, 9, tzinfo=UTC)


def _shown(user_id: int, item_ids: list[int], *, minutes: int = 0) -> ImpressionRecorded:
    return ImpressionRecorded(
        id=uuid.uuid4(), user_id=user_id, surface=Surface.RECOMMENDATIONS, item_ids=item_ids,
        source="recommender", model_version=3, arm=Arm.CONTROL, experiment_id=1,
        shown_at=T + timedelta(minutes=minutes),
    )  # fmt: skip


def _batch(*lists: ImpressionRecorded) -> ImpressionsRecorded:
    """The event one flush of the catalog's impression log publishes."""
    return ImpressionsRecorded(lists=list(lists))


async def _counts(sm: async_sessionmaker[AsyncSession]) -> dict[tuple[int, int], int]:
    async with sm() as session:
        rows = await session.execute(select(ImpressionCount.user_id, ImpressionCount.item_id,
                                            ImpressionCount.shown))  # fmt: skip
        return {(u, i): n for u, i, n in rows}


async def test_each_list_adds_one_to_every_item_it_showed(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session, session.begin():
        for payload in (_shown(1, [10, 11, 12]), _shown(1, [11, 12], minutes=5), _shown(2, [10])):
            assert await apply_payload(session, _batch(payload), at=T) == NO_CHANGE
    assert await _counts(sessionmaker) == {
        (1, 10): 1, (1, 11): 2, (1, 12): 2, (2, 10): 1,
    }  # fmt: skip
    async with sessionmaker() as session:
        last = await session.scalar(
            select(ImpressionCount.last_shown_at).where(
                ImpressionCount.user_id == 1, ImpressionCount.item_id == 11
            )
        )
        assert last == T + timedelta(minutes=5)
        conn = await session.connection()
        activity = await readmodel.user_activity(conn, 1, shown_at_least=2)
        assert activity.shown == {11: 2, 12: 2}  # what rotation reads with the history


async def test_a_list_delivered_twice_counts_once_on_either_path(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    once = _shown(1, [10, 11])
    async with sessionmaker() as session, session.begin():
        await apply_payload(session, _batch(once), at=T)
    async with sessionmaker() as session, session.begin():
        await apply_payload(session, _batch(once), at=T)
    async with sessionmaker() as session, session.begin():  # a batch holding it twice, again
        batch = [Applied(_batch(once, once), T), Applied(_batch(_shown(1, [11])), T)]
        await apply_batch(session, batch)
    assert await _counts(sessionmaker) == {(1, 10): 1, (1, 11): 2}
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Impression)) == 2


async def test_a_deleted_users_counts_go_and_their_later_lists_are_not_counted(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session, session.begin():
        await apply_payload(session, UserUpserted(id=1, niveau=Niveau.L2, filiere=Filiere.MATH),
                            at=T)  # fmt: skip
        await apply_payload(session, _batch(_shown(1, [10]), _shown(2, [10])), at=T)
        await apply_payload(session, UserDeleted(id=1), at=T + timedelta(minutes=1))
    async with sessionmaker() as session, session.begin():
        await apply_batch(session, [Applied(_batch(_shown(1, [11], minutes=2)), T)])
    assert await _counts(sessionmaker) == {(2, 10): 1}


async def test_the_consumer_applies_impressions_from_the_stream_in_batches(
    settings: Settings, redis: aioredis.Redis, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    consumer = make_consumer(settings, redis=redis, sessionmaker=sessionmaker, name="c1")
    await consumer.ensure_group()
    lists = [_shown(user_id, [10, 11, 12]) for user_id in (1, 2, 3) for _ in range(4)]
    for start in range(0, len(lists), 3):  # flushes of three lists
        await publish(redis, _batch(*lists[start : start + 3]))
    await redis.xadd(STREAM, Event.of(_batch(lists[0])).to_fields())  # a list delivered again
    assert await consumer.drain() == 5
    assert consumer.stats.dead_lettered == 0
    expected = {(u, i): 4 for u in (1, 2, 3) for i in (10, 11, 12)}
    assert await _counts(sessionmaker) == expected
