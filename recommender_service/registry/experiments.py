"""A/B tests of model versions: starting, reading, stopping and promoting the one running
experiment (PostgreSQL), and telling replicas (a Redis pointer plus a message on the channel
the model watcher already follows, `serving.holder`).

The control arm serves whatever version is active; the candidate arm serves the experiment's
candidate to `traffic` of the users (`serving.arms` assigns them). Promoting makes the
candidate the active version through the registry's explicit activation, in the same
transaction that ends the experiment.
"""

from __future__ import annotations

from datetime import UTC, datetime

import redis.asyncio as aioredis
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from recommender_service.errors import Conflict, NotFound
from recommender_service.registry import service as registry
from recommender_service.registry.models import Experiment, ExperimentStatus, VersionStatus
from shared.freshness import EXPERIMENT_POINTER_KEY

# Candidates: trained versions that are not the active one.
CANDIDATES = (VersionStatus.READY.value, VersionStatus.ARCHIVED.value)


class ExperimentRunning(Conflict):
    code = "experiment_running"


class NoExperiment(NotFound):
    code = "no_experiment"


async def start(*, session: AsyncSession, candidate_version: int, traffic: float) -> Experiment:
    """A new running experiment, the active version as its control (caller commits)."""
    active = await registry.get_active(session=session, for_update=True)
    if active is None:
        raise Conflict("No active version to compare a candidate with", code="no_active_version")
    candidate = await registry.get_version(session=session, version_id=candidate_version)
    if candidate.id == active.id:
        raise Conflict(f"Version {candidate.id} is the active one", code="candidate_is_active")
    if candidate.status not in CANDIDATES:
        raise Conflict(
            f"Version {candidate.id} is {candidate.status}, not a trained version",
            code="candidate_not_ready",
        )
    running = await current(session=session)
    if running is not None:
        raise ExperimentRunning(f"Experiment {running.id} is running: stop or promote it first")
    experiment = Experiment(
        candidate_version=candidate.id,
        control_version=active.id,
        traffic=traffic,
        status=ExperimentStatus.RUNNING.value,
    )
    session.add(experiment)
    try:
        await session.flush()
    except IntegrityError:  # another admin's start won the race (one running, by the index)
        raise ExperimentRunning("Another experiment was started meanwhile") from None
    return experiment


async def current(*, session: AsyncSession, for_update: bool = False) -> Experiment | None:
    stmt = select(Experiment).where(Experiment.status == ExperimentStatus.RUNNING.value)
    return await session.scalar(stmt.with_for_update() if for_update else stmt)


async def get_current(*, session: AsyncSession, for_update: bool = False) -> Experiment:
    experiment = await current(session=session, for_update=for_update)
    if experiment is None:
        raise NoExperiment("No experiment is running")
    return experiment


async def stop(*, session: AsyncSession) -> Experiment:
    """Ends the running experiment; everybody is served the active version again."""
    experiment = await get_current(session=session, for_update=True)
    _end(experiment, ExperimentStatus.STOPPED)
    await session.flush()
    return experiment


async def promote(*, session: AsyncSession) -> Experiment:
    """Ends the running experiment with its candidate as the active version (an explicit
    activation, which always wins over the automatic decision)."""
    experiment = await get_current(session=session, for_update=True)
    await registry.activate(session=session, version_id=experiment.candidate_version, explicit=True)
    _end(experiment, ExperimentStatus.PROMOTED)
    await session.flush()
    return experiment


def _end(experiment: Experiment, status: ExperimentStatus) -> None:
    experiment.status = status.value
    experiment.ended_at = datetime.now(UTC)


async def list_experiments(
    *, session: AsyncSession, limit: int, offset: int
) -> tuple[list[Experiment], int]:
    total = await session.scalar(select(func.count()).select_from(Experiment)) or 0
    rows = await session.scalars(
        select(Experiment).order_by(Experiment.id.desc()).limit(limit).offset(offset)
    )
    return list(rows), total


async def publish(redis: aioredis.Redis, experiment: Experiment | None) -> None:
    """After the change commits: the pointer (the running experiment's id, or none) for
    pollers, and a message to every replica's model watcher."""
    if experiment is not None and experiment.status == ExperimentStatus.RUNNING.value:
        await redis.set(EXPERIMENT_POINTER_KEY, str(experiment.id))
    else:
        await redis.delete(EXPERIMENT_POINTER_KEY)
    await redis.publish(registry.ACTIVE_CHANNEL, "experiment")


async def read_pointer(redis: aioredis.Redis) -> int | None:
    value = await redis.get(EXPERIMENT_POINTER_KEY)
    return int(value) if value else None
