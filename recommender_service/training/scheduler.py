"""Automatic retraining, and the background runs that the API starts.

A retrain is due when at least `retrain_min_new_interactions` interactions arrived since the
latest run's data snapshot, or that run is older than `retrain_max_age_hours`. The latest run of
any status is the reference, so a failing run is retried once per trigger, not in a loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recommender_service.config import Settings
from recommender_service.errors import TrainingInProgress
from recommender_service.readmodel.models import Interaction
from recommender_service.registry.models import ModelVersion
from recommender_service.training import jobs
from recommender_service.training.lock import training_in_progress

log = logging.getLogger(__name__)


async def retrain_reason(
    *, session: AsyncSession, settings: Settings, now: datetime | None = None
) -> str | None:
    now = now or datetime.now(UTC)
    latest = await session.scalar(select(ModelVersion).order_by(ModelVersion.id.desc()).limit(1))
    since = (latest.data_snapshot_at or latest.created_at) if latest else None
    new = select(func.count()).select_from(Interaction)
    if since is not None:
        new = new.where(Interaction.ingested_at > since)
    n_new = await session.scalar(new) or 0
    if latest is None:
        return "no model yet" if n_new >= settings.min_training_interactions else None
    if n_new >= settings.retrain_min_new_interactions:
        return f"{n_new} new interactions"
    if now - latest.created_at > timedelta(hours=settings.retrain_max_age_hours):
        return f"latest model older than {settings.retrain_max_age_hours:g} h"
    return None


class BackgroundRuns:
    """Training runs started by this replica (kept referenced; cancelled at shutdown)."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        redis: aioredis.Redis,
        settings: Settings,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.redis = redis
        self.settings = settings
        self.tasks: set[asyncio.Task[jobs.Outcome | None]] = set()

    async def start(self, options: jobs.TrainOptions, *, trigger: str) -> int:
        run = await jobs.start(
            sessionmaker=self.sessionmaker,
            redis=self.redis,
            settings=self.settings,
            options=options,
            trigger=trigger,
        )
        task = asyncio.create_task(self._execute(run))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return run.version_id

    async def _execute(self, run: jobs.Run) -> jobs.Outcome | None:
        try:
            return await jobs.execute(
                run, sessionmaker=self.sessionmaker, redis=self.redis, settings=self.settings
            )
        except Exception:
            log.exception("training run %d failed", run.version_id)
            return None

    async def check_once(self) -> int | None:
        """Starts a run if one is due and none is in progress; returns its version id."""
        if await training_in_progress(self.redis):
            return None
        async with self.sessionmaker() as session:
            reason = await retrain_reason(session=session, settings=self.settings)
        if reason is None:
            return None
        log.info("automatic retrain: %s", reason)
        try:
            return await self.start(jobs.TrainOptions(), trigger="auto")
        except TrainingInProgress:
            return None

    async def run_scheduler(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.retrain_check_seconds)
            if stop.is_set():
                return
            try:
                await self.check_once()
            except Exception:
                log.exception("retrain scheduler: check failed")

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
