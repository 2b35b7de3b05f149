"""Automatic retraining, the reaping of abandoned runs, and the runs that the API starts.

A retrain is due (DESIGN §4) when:
- no version was ever trained and the read model holds `MIN_TRAINING_INTERACTIONS`; or
- `RETRAIN_MIN_NEW_INTERACTIONS` interactions were stored since the data snapshot of the last
  trained version (active or kept: a kept candidate already used that data); or
- that version is older than `RETRAIN_MAX_AGE_HOURS` and anything was stored since.
It is held back while:
- a run holds the lease (one at a time across replicas);
- the latest run of any trigger started less than `RETRAIN_MIN_INTERVAL_SECONDS` ago;
- nothing was stored since the latest run's snapshot: never twice on the same data, even
  after a failure (a failure on the same data would only repeat);
- after n failed runs in a row, `RETRAIN_BACKOFF_SECONDS` × 2^(n−1), at most
  `RETRAIN_BACKOFF_MAX_SECONDS`, has not passed since the last one ended.
Admin and CLI runs are not held back: an explicit request is served.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recommender_service.config import Settings
from recommender_service.errors import TrainingInProgress
from recommender_service.readmodel import service as readmodel
from recommender_service.registry import service as registry
from recommender_service.registry.models import VersionStatus
from recommender_service.training import jobs
from recommender_service.training.lease import reap
from recommender_service.training.lock import training_in_progress

log = logging.getLogger(__name__)


def backoff_seconds(failures: int, settings: Settings) -> float:
    """The pause after `failures` failed runs in a row (0 when the last run did not fail)."""
    if failures <= 0:
        return 0.0
    pause = settings.retrain_backoff_seconds * 2.0 ** min(failures - 1, 60)
    return min(pause, settings.retrain_backoff_max_seconds)


async def _held_back(*, session: AsyncSession, settings: Settings, now: datetime) -> str | None:
    last = await registry.latest(session=session)
    if last is None:
        return None
    if now - last.created_at < timedelta(seconds=settings.retrain_min_interval_seconds):
        return (
            f"version {last.id} started less than {settings.retrain_min_interval_seconds:g} s ago"
        )
    if last.status == VersionStatus.FAILED.value:
        failures = await registry.failures_in_a_row(session=session)
        pause = backoff_seconds(failures, settings)
        if now - (last.finished_at or last.created_at) < timedelta(seconds=pause):
            return f"{failures} failed run(s) in a row: backing off {pause:g} s"
    if not await readmodel.interactions_since(session, last.data_snapshot_at or last.created_at):
        return f"nothing new since version {last.id}'s data"
    return None


async def retrain_reason(
    *, session: AsyncSession, settings: Settings, now: datetime | None = None
) -> str | None:
    """Why a retrain is due now, or None (see the module docstring)."""
    now = now or datetime.now(UTC)
    if held := await _held_back(session=session, settings=settings, now=now):
        log.debug("automatic retrain held back: %s", held)
        return None
    trained = await registry.latest(session=session, trained=True)
    if trained is None:
        total = await readmodel.interactions_since(session, None)
        return "no model yet" if total >= settings.min_training_interactions else None
    n_new = await readmodel.interactions_since(
        session, trained.data_snapshot_at or trained.created_at
    )
    if n_new >= settings.retrain_min_new_interactions:
        return f"{n_new} new interactions since version {trained.id}'s data"
    if n_new and now - trained.created_at > timedelta(hours=settings.retrain_max_age_hours):
        return f"version {trained.id} is older than {settings.retrain_max_age_hours:g} h"
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
        self.checks = 0  # automatic retrain checks made

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

    async def reap(self) -> list[int]:
        """Fails the runs whose owner died (training/lease.py) and frees their lock."""
        return await reap(
            sessionmaker=self.sessionmaker,
            redis=self.redis,
            ttl_ms=self.settings.training_lock_ttl_ms,
        )

    async def check_once(self) -> int | None:
        """Starts a run if one is due and none is in progress; returns its version id."""
        self.checks += 1
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
        """Reaps abandoned runs twice per lease, and checks for a due retrain every
        `RETRAIN_CHECK_SECONDS` when automatic retraining is enabled."""
        settings = self.settings
        tick = min(settings.retrain_check_seconds, settings.training_lock_ttl_ms / 2000)
        next_check = time.monotonic() + settings.retrain_check_seconds
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick)
            if stop.is_set():
                return
            try:
                await self.reap()
                if settings.auto_retrain_enabled and time.monotonic() >= next_check:
                    next_check = time.monotonic() + settings.retrain_check_seconds
                    await self.check_once()
            except Exception:
                log.exception("retrain scheduler: check failed")

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
