"""Storing, listing, activating and loading model versions (PostgreSQL), and telling replicas
which one is active (a Redis pointer key plus a pub/sub message, named in `shared.freshness`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from recommender_service.errors import Conflict, NotFound
from recommender_service.registry.models import (
    ModelArtifact,
    ModelVersion,
    TrainingEpoch,
    VersionStatus,
)
from shared.freshness import ACTIVE_CHANNEL, ACTIVE_POINTER_KEY

TRAINED = (VersionStatus.READY.value, VersionStatus.ACTIVE.value, VersionStatus.ARCHIVED.value)
BY_ADMIN = "activated by an admin"


async def create_version(
    *,
    session: AsyncSession,
    algorithm: str,
    hyperparameters: dict[str, Any],
    trigger: str,
    owner: str | None = None,
    lease_token: str | None = None,
) -> ModelVersion:
    version = ModelVersion(
        algorithm=algorithm,
        hyperparameters=hyperparameters,
        trigger=trigger,
        status=VersionStatus.TRAINING.value,
        metrics={},
        owner=owner,
        lease_token=lease_token,
        heartbeat_at=func.now(),
    )
    session.add(version)
    await session.flush()
    return version


async def heartbeat(*, session: AsyncSession, version_id: int) -> bool:
    """Renews a run's lease; False when the run is no longer `training` (failed as abandoned)."""
    renewed = await session.execute(
        update(ModelVersion)
        .where(ModelVersion.id == version_id, ModelVersion.status == VersionStatus.TRAINING.value)
        .values(heartbeat_at=func.now())
        .returning(ModelVersion.id)
    )
    return renewed.first() is not None


async def note_snapshot(*, session: AsyncSession, version_id: int, at: datetime) -> None:
    """The run's data snapshot, recorded once the data is loaded (a failed run keeps it too)."""
    await session.execute(
        update(ModelVersion).where(ModelVersion.id == version_id).values(data_snapshot_at=at)
    )


async def training_runs(
    *, session: AsyncSession, lease_seconds: float
) -> list[tuple[ModelVersion, bool]]:
    """Runs still `training`, each with whether its lease expired (no heartbeat within
    `lease_seconds`, by the database's clock, as the heartbeats are); locked, so that one
    reaper handles each."""
    cutoff = func.now() - func.make_interval(0, 0, 0, 0, 0, 0, float(lease_seconds))
    expired = func.coalesce(ModelVersion.heartbeat_at, ModelVersion.created_at) < cutoff
    rows = await session.execute(
        select(ModelVersion, expired)
        .where(ModelVersion.status == VersionStatus.TRAINING.value)
        .with_for_update(of=ModelVersion, skip_locked=True)
    )
    return [(version, bool(flag)) for version, flag in rows]


async def log_epoch(*, session: AsyncSession, version_id: int, entry: dict[str, Any]) -> None:
    epoch = int(entry.get("epoch", 0))
    loss = entry.get("loss")
    stage = str(entry.get("stage", "train"))
    metrics = {k: v for k, v in entry.items() if k not in ("epoch", "loss", "stage")}
    stmt = insert(TrainingEpoch).values(
        version_id=version_id,
        stage=stage,
        epoch=epoch,
        loss=float(loss) if loss is not None else None,
        metrics=metrics,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[TrainingEpoch.version_id, TrainingEpoch.stage, TrainingEpoch.epoch],
        set_={"loss": stmt.excluded.loss, "metrics": stmt.excluded.metrics},
    )
    await session.execute(stmt)


async def complete_version(
    *,
    session: AsyncSession,
    version_id: int,
    blob: bytes,
    metrics: dict[str, Any],
    n_users: int,
    n_items: int,
    n_interactions: int,
    train_seconds: float,
    data_snapshot_at: datetime,
    hyperparameters: dict[str, Any] | None = None,
) -> ModelVersion:
    version = await get_version(session=session, version_id=version_id)
    if (
        version.status != VersionStatus.TRAINING.value
    ):  # failed meanwhile: its owner was deemed dead
        raise Conflict(f"model version {version_id} is {version.status}: {version.error}")
    version.status = VersionStatus.READY.value
    if hyperparameters is not None:  # the values the run settled on (e.g. its batch size)
        version.hyperparameters = hyperparameters
    version.metrics = metrics
    version.n_users, version.n_items, version.n_interactions = n_users, n_items, n_interactions
    version.train_seconds = train_seconds
    version.data_snapshot_at = data_snapshot_at
    version.finished_at = datetime.now(UTC)
    session.add(ModelArtifact(version_id=version_id, blob=blob, size_bytes=len(blob)))
    await session.flush()
    return version


async def fail_version(*, session: AsyncSession, version_id: int, error: str) -> None:
    """Fails a run still `training` (a version that completed, or was failed already, keeps its
    status and its first reason)."""
    await session.execute(
        update(ModelVersion)
        .where(ModelVersion.id == version_id, ModelVersion.status == VersionStatus.TRAINING.value)
        .values(status=VersionStatus.FAILED.value, error=error[:4000], finished_at=func.now())
    )


async def get_version(*, session: AsyncSession, version_id: int) -> ModelVersion:
    version = await session.get(ModelVersion, version_id)
    if version is None:
        raise NotFound(f"model version {version_id} not found")
    return version


async def get_active(*, session: AsyncSession, for_update: bool = False) -> ModelVersion | None:
    stmt = select(ModelVersion).where(ModelVersion.status == VersionStatus.ACTIVE.value)
    return await session.scalar(stmt.with_for_update() if for_update else stmt)


async def latest(*, session: AsyncSession, trained: bool = False) -> ModelVersion | None:
    """The newest version (`trained`: the newest that finished training, active or not)."""
    stmt = select(ModelVersion).order_by(ModelVersion.id.desc()).limit(1)
    if trained:
        stmt = stmt.where(ModelVersion.status.in_(TRAINED))
    return await session.scalar(stmt)


async def failures_in_a_row(*, session: AsyncSession) -> int:
    """How many of the newest runs failed, counted back to the last one that did not."""
    last_ok = (
        select(func.max(ModelVersion.id))
        .where(ModelVersion.status != VersionStatus.FAILED.value)
        .scalar_subquery()
    )
    stmt = select(func.count()).where(
        ModelVersion.status == VersionStatus.FAILED.value,
        ModelVersion.id > func.coalesce(last_ok, 0),
    )
    return await session.scalar(stmt) or 0


async def list_versions(
    *, session: AsyncSession, limit: int, offset: int
) -> tuple[list[ModelVersion], int]:
    total = await session.scalar(select(func.count()).select_from(ModelVersion)) or 0
    rows = await session.scalars(
        select(ModelVersion).order_by(ModelVersion.id.desc()).limit(limit).offset(offset)
    )
    return list(rows), total


async def list_epochs(*, session: AsyncSession, version_id: int) -> list[TrainingEpoch]:
    rows = await session.scalars(
        select(TrainingEpoch)
        .where(TrainingEpoch.version_id == version_id)
        .order_by(TrainingEpoch.logged_at, TrainingEpoch.epoch)
    )
    return list(rows)


async def load_artifact(*, session: AsyncSession, version_id: int) -> bytes:
    blob = await session.scalar(
        select(ModelArtifact.blob).where(ModelArtifact.version_id == version_id)
    )
    if blob is None:
        raise NotFound(f"model version {version_id} has no artefact")
    return blob


async def record_decision(
    *, session: AsyncSession, version_id: int, decision: str, reason: str, scores: dict[str, Any]
) -> None:
    await session.execute(
        update(ModelVersion)
        .where(ModelVersion.id == version_id)
        .values(decision=decision, decision_reason=reason, decision_scores=scores)
    )


async def activate(
    *, session: AsyncSession, version_id: int, explicit: bool = False
) -> ModelVersion:
    """Makes `version_id` the one active version (the previous one is archived).

    `explicit`: an admin's choice, which always wins over the automatic decision (recorded)."""
    version = await get_version(session=session, version_id=version_id)
    if version.status not in (VersionStatus.READY.value, VersionStatus.ARCHIVED.value):
        if version.status == VersionStatus.ACTIVE.value:
            return version
        raise Conflict(f"model version {version_id} is {version.status}, not ready")
    if explicit and not (version.decision_reason or "").startswith(BY_ADMIN):
        automatic = f" (automatic decision: {version.decision}, {version.decision_reason})"
        version.decision_reason = BY_ADMIN + (automatic if version.decision_reason else "")
        version.decision = "activated"
    await session.execute(
        update(ModelVersion)
        .where(ModelVersion.status == VersionStatus.ACTIVE.value)
        .values(status=VersionStatus.ARCHIVED.value)
    )
    version.status = VersionStatus.ACTIVE.value
    version.activated_at = datetime.now(UTC)
    await session.flush()
    return version


async def publish_active(redis: aioredis.Redis, version_id: int) -> None:
    """After the activation commits: the pointer for pollers, a message for subscribers."""
    await redis.set(ACTIVE_POINTER_KEY, str(version_id))
    await redis.publish(ACTIVE_CHANNEL, str(version_id))


async def read_pointer(redis: aioredis.Redis) -> int | None:
    value = await redis.get(ACTIVE_POINTER_KEY)
    return int(value) if value else None
