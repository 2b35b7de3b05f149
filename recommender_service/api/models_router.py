"""The model registry over HTTP: status, versions, activation, training runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, status

from recommender_service.api.dependencies import RedisDep, RunsDep, ServingDep, SessionDep
from recommender_service.api.schemas import (
    ActiveModelStatus,
    EpochLog,
    ModelVersionRead,
    Page,
    TrainAccepted,
)
from recommender_service.registry import service as registry
from recommender_service.registry.status import model_status
from recommender_service.training.jobs import TrainOptions
from shared.http_errors import error_responses
from shared.training import TrainRequest

router = APIRouter(tags=["models"], responses=error_responses(404, 409))

VersionId = Annotated[int, Path(ge=1, le=2**63 - 1)]
# Past the last version is an empty page; past this is a 422, never an int64 error in SQL.
MAX_OFFSET = 1_000_000


@router.get("/model", response_model=ActiveModelStatus, summary="Active version and status")
async def active_model(
    session: SessionDep, redis: RedisDep, serving: ServingDep
) -> ActiveModelStatus:
    body = await model_status(
        session=session, redis=redis, served_version=serving.holder.version_id
    )
    return ActiveModelStatus.model_validate(body, from_attributes=True)


@router.get("/models", response_model=Page[ModelVersionRead], summary="All versions")
async def list_models(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[ModelVersionRead]:
    rows, total = await registry.list_versions(session=session, limit=limit, offset=offset)
    items = [ModelVersionRead.model_validate(r) for r in rows]
    return Page[ModelVersionRead](items=items, total=total, limit=limit, offset=offset)


@router.get(
    "/models/{version_id}/epochs", response_model=list[EpochLog], summary="A run's epoch log"
)
async def epochs(version_id: VersionId, session: SessionDep) -> list[EpochLog]:
    await registry.get_version(session=session, version_id=version_id)
    rows = await registry.list_epochs(session=session, version_id=version_id)
    return [EpochLog.model_validate(r) for r in rows]


@router.post(
    "/models/{version_id}/activate",
    response_model=ModelVersionRead,
    summary="Make a trained version the active one (e.g. roll back)",
)
async def activate(version_id: VersionId, session: SessionDep, redis: RedisDep) -> ModelVersionRead:
    """An explicit choice: it always wins over the automatic activation decision."""
    version = await registry.activate(session=session, version_id=version_id, explicit=True)
    await session.commit()
    await registry.publish_active(redis, version.id)
    return ModelVersionRead.model_validate(version)


@router.post(
    "/models/train",
    response_model=TrainAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start a training run",
)
async def train(
    runs: RunsDep, request: Annotated[TrainRequest | None, Body()] = None
) -> TrainAccepted:
    """Runs in the background of this replica; poll `GET /v1/model` or `GET /v1/models`."""
    options = TrainOptions(**(request.model_dump() if request else {}))
    run_id = await runs.start(options, trigger="api")
    return TrainAccepted(run_id=run_id, status="training")
