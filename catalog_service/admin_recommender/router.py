"""Admin proxies to the recommender's registry: `/v1/recommender/...` → its `/v1/...`."""

from typing import Annotated

from fastapi import APIRouter, Body, status
from pydantic import TypeAdapter

from catalog_service.admin_recommender.schemas import (
    ActiveModel,
    EpochLog,
    ModelVersion,
    ModelVersionPage,
    TrainAccepted,
)
from catalog_service.admin_recommender.service import relay
from catalog_service.auth.dependencies import AdminUser
from catalog_service.dependencies import IdPath
from catalog_service.pagination import PageDep
from catalog_service.recommendations.dependencies import RecommenderDep
from shared.http_errors import error_responses
from shared.training import TrainRequest

router = APIRouter(
    prefix="/v1/recommender",
    tags=["admin"],
    responses=error_responses(400, 401, 403, 404, 409, 422, 503),
)

_ACTIVE = TypeAdapter(ActiveModel)
_VERSION = TypeAdapter(ModelVersion)
_PAGE = TypeAdapter(ModelVersionPage)
_EPOCHS = TypeAdapter(list[EpochLog])
_ACCEPTED = TypeAdapter(TrainAccepted)


@router.get("/model", name="recommender_model")
async def active_model(_admin: AdminUser, recommender: RecommenderDep) -> ActiveModel:
    """The active version, its metrics beside the popularity baseline, and any run in progress."""
    return await relay(client=recommender, method="GET", path="/v1/model", answer=_ACTIVE)


@router.get("/models", name="recommender_models")
async def list_models(
    _admin: AdminUser, recommender: RecommenderDep, page: PageDep
) -> ModelVersionPage:
    """Every trained (or training, or failed) version with its metrics, newest first."""
    params = {"limit": page.limit, "offset": page.offset}
    return await relay(
        client=recommender, method="GET", path="/v1/models", params=params, answer=_PAGE
    )


@router.get("/models/{version_id}/epochs", name="recommender_epochs")
async def epochs(
    version_id: IdPath, _admin: AdminUser, recommender: RecommenderDep
) -> list[EpochLog]:
    """A run's per-epoch loss and validation metrics."""
    path = f"/v1/models/{version_id}/epochs"
    return await relay(client=recommender, method="GET", path=path, answer=_EPOCHS)


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
    body = request.model_dump(exclude_none=True) if request else None
    return await relay(
        client=recommender, method="POST", path="/v1/models/train", json=body, answer=_ACCEPTED
    )


@router.post("/models/{version_id}/activate", name="recommender_activate")
async def activate(
    version_id: IdPath, _admin: AdminUser, recommender: RecommenderDep
) -> ModelVersion:
    """Makes a trained version the active one (e.g. to roll back); replicas swap to it."""
    path = f"/v1/models/{version_id}/activate"
    return await relay(client=recommender, method="POST", path=path, answer=_VERSION)
