"""Automatic retraining (training/scheduler.py): due on enough new data or an old model, held
back by a minimum interval, an unchanged snapshot and a back-off after failures."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recommender_service.config import Settings
from recommender_service.registry import service as registry
from recommender_service.registry.models import ModelVersion
from recommender_service.training.scheduler import BackgroundRuns, backoff_seconds, retrain_reason
from tests.recommender.conftest import ReadModel, load_synthetic, train_version
from tests.recommender.synthetic import generate


@pytest.fixture
def auto(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "auto_retrain_enabled": True, "retrain_min_new_interactions": 3,
            "retrain_min_interval_seconds": 0.0, "retrain_check_seconds": 0.05,
        }
    )  # fmt: skip


async def _reason(sm: async_sessionmaker[AsyncSession], settings: Settings, **kw: Any) -> Any:
    async with sm() as session:
        return await retrain_reason(session=session, settings=settings, **kw)


async def _versions(sm: async_sessionmaker[AsyncSession]) -> list[ModelVersion]:
    async with sm() as session:
        return list(await session.scalars(select(ModelVersion).order_by(ModelVersion.id)))


async def _writes(read_model: ReadModel, n: int, *, user_id: int = 1000) -> None:
    for _ in range(n):  # a steady trickle, interleaved with the scheduler's checks
        await read_model.interaction(user_id, 5000, days_ago=0.001)
        await asyncio.sleep(0.01)


async def _until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(600):
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_retrain_is_due_after_n_interactions_since_the_last_trained_data(
    auto: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    read_model: ReadModel,
) -> None:
    assert await _reason(sessionmaker, auto) is None  # nothing to learn from yet
    await load_synthetic(sessionmaker, generate(30, 20, 600, seed=1))
    assert await _reason(sessionmaker, auto) == "no model yet"
    await train_version(auto, sessionmaker, redis)
    for n in range(3):
        assert await _reason(sessionmaker, auto) is None
        await read_model.interaction(1000 + n, 5000)
    assert await _reason(sessionmaker, auto) == "3 new interactions since version 1's data"
    runs = BackgroundRuns(sessionmaker=sessionmaker, redis=redis, settings=auto)
    assert await runs.check_once() == 2
    assert await runs.check_once() is None  # the run holds the lease
    await asyncio.gather(*runs.tasks)
    assert await _reason(sessionmaker, auto) is None  # version 2 saw those three


async def test_under_continuous_writes_below_the_threshold_no_run_starts_past_it_exactly_one_does(
    auto: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    read_model: ReadModel,
) -> None:
    auto = auto.model_copy(update={"retrain_min_new_interactions": 20})
    await load_synthetic(sessionmaker, generate(30, 20, 600, seed=1))
    await train_version(auto, sessionmaker, redis)
    runs = BackgroundRuns(sessionmaker=sessionmaker, redis=redis, settings=auto)

    async def checks_after(count: int) -> None:
        target = runs.checks + count
        await _until(lambda: _true(runs.checks >= target), f"{count} scheduler checks")

    stop = asyncio.Event()
    scheduler = asyncio.create_task(runs.run_scheduler(stop))
    try:
        await _writes(read_model, 19)
        await checks_after(3)
        assert len(await _versions(sessionmaker)) == 1
        await _writes(read_model, 1)  # the 20th
        await _until(lambda: _count_is(sessionmaker, 2), "the automatic run")
        await _until(lambda: _true(not runs.tasks), "the run to finish")
        await _writes(read_model, 19)  # below the threshold again, counted from version 2
        await checks_after(3)
    finally:
        stop.set()
        await asyncio.wait_for(scheduler, 10)
    versions = await _versions(sessionmaker)
    assert [(v.id, v.trigger) for v in versions] == [(1, "test"), (2, "auto")]
    assert versions[1].finished_at is not None
    assert versions[1].decision is not None  # the run completed and was judged
    assert versions[1].n_interactions == versions[0].n_interactions + 1  # one new (user, item)


async def _true(value: bool) -> bool:
    return value


async def _count_is(sm: async_sessionmaker[AsyncSession], n: int) -> bool:
    return len(await _versions(sm)) == n


async def test_runs_keep_the_minimum_interval_and_never_retrain_on_the_same_data(
    auto: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    read_model: ReadModel,
) -> None:
    await load_synthetic(sessionmaker, generate(30, 20, 600, seed=1))
    first = await train_version(auto, sessionmaker, redis)
    [version] = await _versions(sessionmaker)
    started = version.created_at
    old = {"retrain_max_age_hours": 1.0}
    # Older than T but nothing changed: no run (the same snapshot would give the same model).
    later = started + timedelta(hours=2)
    assert await _reason(sessionmaker, auto.model_copy(update=old), now=later) is None
    await read_model.interaction(1000, 5000)
    assert await _reason(sessionmaker, auto.model_copy(update=old), now=later) == (
        f"version {first.version_id} is older than 1 h"
    )
    for n in range(5):
        await read_model.interaction(1001 + n, 5000)
    spaced = auto.model_copy(update={"retrain_min_interval_seconds": 600.0})
    assert await _reason(sessionmaker, spaced, now=started + timedelta(seconds=599)) is None
    assert await _reason(sessionmaker, spaced, now=started + timedelta(seconds=601)) == (
        "6 new interactions since version 1's data"
    )


def test_the_back_off_doubles_per_failure_up_to_its_cap(settings: Settings) -> None:
    settings = settings.model_copy(
        update={"retrain_backoff_seconds": 60.0, "retrain_backoff_max_seconds": 300.0}
    )
    assert [backoff_seconds(n, settings) for n in range(6)] == [0, 60, 120, 240, 300, 300]


async def test_after_failed_runs_the_next_one_waits_out_the_back_off(
    auto: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
    read_model: ReadModel,
) -> None:
    auto = auto.model_copy(
        update={"retrain_backoff_seconds": 60.0, "retrain_backoff_max_seconds": 100.0}
    )
    await load_synthetic(sessionmaker, generate(30, 20, 600, seed=1))
    await train_version(auto, sessionmaker, redis)
    [trained] = await _versions(sessionmaker)
    for n in range(3):
        await read_model.interaction(1000 + n, 5000)
    assert trained.data_snapshot_at is not None
    ended = await _failed_run(sessionmaker, snapshot=trained.data_snapshot_at)
    assert await _reason(sessionmaker, auto, now=ended + timedelta(seconds=59)) is None
    due = await _reason(sessionmaker, auto, now=ended + timedelta(seconds=61))
    assert due == "3 new interactions since version 1's data"
    ended = await _failed_run(sessionmaker, snapshot=trained.data_snapshot_at)
    # Two in a row: 120 s, capped at 100 s.
    assert await _reason(sessionmaker, auto, now=ended + timedelta(seconds=99)) is None
    assert await _reason(sessionmaker, auto, now=ended + timedelta(seconds=101)) == due


async def _failed_run(sm: async_sessionmaker[AsyncSession], *, snapshot: datetime) -> datetime:
    """A run that failed on data up to `snapshot`; returns when it ended."""
    async with sm() as session, session.begin():
        version = await registry.create_version(
            session=session, algorithm="neumf", hyperparameters={}, trigger="auto"
        )
        await registry.fail_version(session=session, version_id=version.id, error="boom")
        await session.execute(
            update(ModelVersion)
            .where(ModelVersion.id == version.id)
            .values(data_snapshot_at=snapshot)
        )
        ended = await session.scalar(select(func.now()))
    assert ended is not None
    return ended
