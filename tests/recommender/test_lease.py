"""Training runs hold a lease (training/lease.py): a run whose owner died is failed with the
reason and its lock freed, when a replica starts or when the lease expires."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import redis.asyncio as aioredis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recommender_service.config import Settings
from recommender_service.main import create_app
from recommender_service.registry import service as registry
from recommender_service.registry.models import ModelVersion, TrainingEpoch
from recommender_service.training import jobs
from recommender_service.training.lease import reap
from recommender_service.training.lock import LOCK_KEY
from recommender_service.training.scheduler import BackgroundRuns
from tests.recommender.conftest import SERVICE_KEY, STREAM, load_synthetic, make_settings
from tests.recommender.synthetic import generate


async def _version(sm: async_sessionmaker[AsyncSession], version_id: int) -> ModelVersion:
    async with sm() as session:
        return await registry.get_version(session=session, version_id=version_id)


async def _epochs(sm: async_sessionmaker[AsyncSession]) -> int:
    async with sm() as session:
        return await session.scalar(select(func.count()).select_from(TrainingEpoch)) or 0


async def test_a_killed_training_process_is_failed_and_its_lock_freed_when_a_replica_starts(
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: aioredis.Redis,
) -> None:
    await load_synthetic(sessionmaker, generate(200, 150, 15_000, seed=5))
    env = {
        **os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "SERVICE_API_KEY": SERVICE_KEY, "EVENTS_STREAM": STREAM, "DATA_DIR": str(tmp_path),
        "BOOTSTRAP_ENABLED": "false", "TRAIN_HOLDOUT_METRICS": "false",
        "TRAIN_REFIT_FULL": "false", "TRAINING_LOCK_TTL_MS": "60000",
    }  # fmt: skip
    trainer = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "recommender_service", "train", "--epochs", "300",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(1200):  # it has recorded its run and finished an epoch: mid-training
            if await _epochs(sessionmaker) >= 1:
                break
            assert trainer.returncode is None, "the trainer exited early"
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the trainer never logged an epoch")
    finally:
        trainer.send_signal(signal.SIGKILL)
        await trainer.wait()
    run = await _version(sessionmaker, 1)
    assert (run.status, run.owner) == ("training", f"{socket.gethostname()}:{trainer.pid}")
    assert await redis.get(LOCK_KEY) == run.lease_token  # held for 60 s more by itself

    app = create_app(make_settings(database_url, redis_url, tmp_path))
    async with app.router.lifespan_context(app):
        run = await _version(sessionmaker, 1)
        assert (run.status, run.error) == (
            "failed",
            f"abandoned: its owner process {run.owner} is gone",
        )
        assert run.finished_at is not None
        assert await redis.exists(LOCK_KEY) == 0


async def _foreign_run(sm: async_sessionmaker[AsyncSession], owner: str, token: str) -> int:
    async with sm() as session, session.begin():
        version = await registry.create_version(
            session=session, algorithm="neumf", hyperparameters={}, trigger="auto",
            owner=owner, lease_token=token,
        )  # fmt: skip
        return version.id


async def test_a_run_whose_heartbeat_stops_is_failed_once_its_lease_expires(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], redis: aioredis.Redis
) -> None:
    settings = settings.model_copy(update={"training_lock_ttl_ms": 1000})
    # A trainer on another host took the lock and recorded its run, then went silent.
    version_id = await _foreign_run(sessionmaker, "elsewhere:4242", "token-of-elsewhere")
    await redis.set(LOCK_KEY, "token-of-elsewhere", px=60_000)
    runs = BackgroundRuns(sessionmaker=sessionmaker, redis=redis, settings=settings)
    stop = asyncio.Event()
    scheduler = asyncio.create_task(runs.run_scheduler(stop))
    try:
        for _ in range(600):
            if (await _version(sessionmaker, version_id)).status != "training":
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(scheduler, 10)
    run = await _version(sessionmaker, version_id)
    assert (run.status, run.error) == (
        "failed",
        "abandoned: no heartbeat from its owner elsewhere:4242 for 1 s",
    )
    assert await redis.exists(LOCK_KEY) == 0


async def test_a_live_runs_heartbeat_keeps_it_from_being_reaped(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], redis: aioredis.Redis
) -> None:
    settings = settings.model_copy(update={"training_lock_ttl_ms": 3000})
    run = await jobs.start(
        sessionmaker=sessionmaker, redis=redis, settings=settings, options=jobs.TrainOptions(),
        trigger="test",
    )  # fmt: skip
    try:
        first = (await _version(sessionmaker, run.version_id)).heartbeat_at
        for _ in range(400):  # renewed every second
            await asyncio.sleep(0.05)
            if (await _version(sessionmaker, run.version_id)).heartbeat_at != first:
                break
        else:
            raise AssertionError("no heartbeat")
        assert await reap(sessionmaker=sessionmaker, redis=redis, ttl_ms=3000) == []
        assert await redis.get(LOCK_KEY) == run.lease.token
    finally:
        await run.lease.release()
    assert (await _version(sessionmaker, run.version_id)).status == "training"
