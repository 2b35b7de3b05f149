"""A/B tests of model versions over HTTP: start one, read it, stop it, promote its candidate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from recommender_service.api.dependencies import RedisDep, SessionDep
from recommender_service.api.schemas import Page
from recommender_service.registry import experiments
from recommender_service.registry import service as registry
from shared.experiments import ExperimentCreate, ExperimentRead
from shared.http_errors import error_responses

router = APIRouter(prefix="/experiments", tags=["experiments"], responses=error_responses(404, 409))


@router.post(
    "",
    response_model=ExperimentRead,
    status_code=status.HTTP_201_CREATED,
    summary="Serve a candidate version to a share of users",
)
async def start(data: ExperimentCreate, session: SessionDep, redis: RedisDep) -> ExperimentRead:
    """Users are assigned to arms by a stable hash of (experiment, user): `traffic` of them get
    the candidate, the others the active version; every answer names its arm. 409 while
    another experiment runs."""
    experiment = await experiments.start(
        session=session, candidate_version=data.candidate_version, traffic=data.traffic
    )
    await session.commit()
    await experiments.publish(redis, experiment)
    return ExperimentRead.model_validate(experiment)


@router.get("", response_model=Page[ExperimentRead], summary="Every experiment, newest first")
async def list_experiments(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Page[ExperimentRead]:
    rows, total = await experiments.list_experiments(session=session, limit=limit, offset=offset)
    items = [ExperimentRead.model_validate(r) for r in rows]
    return Page[ExperimentRead](items=items, total=total, limit=limit, offset=offset)


@router.get("/current", response_model=ExperimentRead, summary="The running experiment")
async def current(session: SessionDep) -> ExperimentRead:
    """404 `no_experiment` when none runs."""
    return ExperimentRead.model_validate(await experiments.get_current(session=session))


@router.delete("/current", response_model=ExperimentRead, summary="Stop the running experiment")
async def stop(session: SessionDep, redis: RedisDep) -> ExperimentRead:
    """Everybody is served the active version again; the experiment's record stays."""
    experiment = await experiments.stop(session=session)
    await session.commit()
    await experiments.publish(redis, experiment)
    return ExperimentRead.model_validate(experiment)


@router.post(
    "/current/promote",
    response_model=ExperimentRead,
    summary="End the running experiment with its candidate as the active version",
)
async def promote(session: SessionDep, redis: RedisDep) -> ExperimentRead:
    experiment = await experiments.promote(session=session)
    await session.commit()
    await registry.publish_active(redis, experiment.candidate_version)
    await experiments.publish(redis, experiment)
    return ExperimentRead.model_validate(experiment)
