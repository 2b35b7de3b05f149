"""Admin proxies to the recommender's registry: `/v1/recommender/...` → its `/v1/...`."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Body, status

from catalog_service.admin_recommender import service
from catalog_service.admin_recommender.schemas import (
    ActiveModel,
    EpochLog,
    ExperimentReport,
    ModelVersion,
    ModelVersionPage,
    TrainAccepted,
)
from catalog_service.auth.dependencies import AdminUser
from catalog_service.dependencies import IdPath, SessionDep, SettingsDep
from catalog_service.pagination import PageDep
from catalog_service.recommendations.dependencies import RecommenderDep
from catalog_service.stats import online
from shared.experiments import ExperimentCreate, ExperimentRead
from shared.http_errors import error_responses
from shared.training import TrainRequest

router = APIRouter(
    prefix="/v1/recommender",
    tags=["admin"],
    responses=error_responses(400, 401, 403, 404, 409, 422, 503),
)


@router.get("/model", name="recommender_model")
async def active_model(_admin: AdminUser, recommender: RecommenderDep) -> ActiveModel:
    """The active version, its metrics beside the popularity baseline, and any run in progress."""
    return await service.active_model(client=recommender)


@router.get("/models", name="recommender_models")
async def list_models(
    _admin: AdminUser, recommender: RecommenderDep, page: PageDep
) -> ModelVersionPage:
    """Every trained (or training, or failed) version with its metrics, newest first."""
    return await service.list_models(client=recommender, limit=page.limit, offset=page.offset)


@router.get("/models/{version_id}/epochs", name="recommender_epochs")
async def epochs(
    version_id: IdPath, _admin: AdminUser, recommender: RecommenderDep
) -> list[EpochLog]:
    """A run's per-epoch loss and validation metrics."""
    return await service.epochs(client=recommender, version_id=version_id)


@router.post(
    "/models/train",
    name="recommender_train",
    status_code=status.HTTP_202_ACCEPTED,
)
async def train(
    _admin: AdminUser,
    recommender: RecommenderDep,
    request: Annotated[TrainRequest | None, Body()] = None,
) -> TrainAccepted:
    """Starts a training run in the background; follow it with `GET /v1/recommender/model`."""
    return await service.train(client=recommender, request=request)


@router.post("/models/{version_id}/activate", name="recommender_activate")
async def activate(
    version_id: IdPath, _admin: AdminUser, recommender: RecommenderDep
) -> ModelVersion:
    """Makes a trained version the active one (e.g. to roll back); replicas swap to it."""
    return await service.activate(client=recommender, version_id=version_id)


@router.post(
    "/experiments",
    name="recommender_start_experiment",
    status_code=status.HTTP_201_CREATED,
)
async def start_experiment(
    data: ExperimentCreate, _admin: AdminUser, recommender: RecommenderDep
) -> ExperimentRead:
    """Serves `candidate_version` to `traffic` of the users (a stable hash of experiment and
    user), the active version to the others; every list then names its arm. 409 while
    another experiment runs."""
    return await service.start_experiment(client=recommender, data=data)


@router.get("/experiments/current", name="recommender_current_experiment")
async def current_experiment(
    _admin: AdminUser, recommender: RecommenderDep, session: SessionDep, settings: SettingsDep
) -> ExperimentReport:
    """The running experiment with its online metrics so far: per arm, and the confidence
    interval of the click-through difference. 404 `no_experiment` when none runs."""
    experiment = await service.current_experiment(client=recommender)
    window = timedelta(minutes=settings.attribution_window_minutes)
    metrics = await online.experiment_metrics(
        session=session, experiment_id=experiment.id, since=experiment.created_at, window=window
    )
    return ExperimentReport(**experiment.model_dump(), online=metrics)


@router.delete("/experiments/current", name="recommender_stop_experiment")
async def stop_experiment(_admin: AdminUser, recommender: RecommenderDep) -> ExperimentRead:
    """Stops it: everybody is served the active version again."""
    return await service.stop_experiment(client=recommender)


@router.post("/experiments/current/promote", name="recommender_promote_experiment")
async def promote_experiment(_admin: AdminUser, recommender: RecommenderDep) -> ExperimentRead:
    """Ends it with its candidate as the active version (an explicit activation)."""
    return await service.promote_experiment(client=recommender)
