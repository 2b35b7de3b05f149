"""The model status that `GET /v1/model` reports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from recommender_service.registry import service as registry
from recommender_service.registry.models import ModelVersion, VersionStatus
from recommender_service.training.lock import training_in_progress
from shared.model_metrics import split_metrics


async def model_status(
    *, session: AsyncSession, redis: aioredis.Redis, served_version: int | None
) -> dict[str, Any]:
    active = await registry.get_active(session=session)
    in_progress = await training_in_progress(redis)
    current_run = None
    if in_progress:
        current_run = await session.scalar(
            select(ModelVersion)
            .where(ModelVersion.status == VersionStatus.TRAINING.value)
            .order_by(ModelVersion.id.desc())
            .limit(1)
        )
    metrics, popularity = split_metrics(active.metrics if active else {})
    history = await registry.list_epochs(session=session, version_id=active.id) if active else []
    return {
        "active": active,
        "age_seconds": (datetime.now(UTC) - active.created_at).total_seconds() if active else None,
        "metrics": metrics,
        "popularity": popularity,
        "served_version": served_version,
        "training_in_progress": in_progress,
        "current_run": current_run,
        "latest_trained": await registry.latest(session=session, trained=True),
        "history": history,
    }
