"""Relaying admin calls to the recommender, with the catalog's error shape.

Unreachable, slow, failing or refusing our service key: 503 `recommender_unavailable`. The
recommender's own 4xx answers (unknown version, a run already in progress, a bad training
request) keep their status, code and message.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from catalog_service.admin_recommender.schemas import (
    ActiveModel,
    EpochLog,
    ModelVersion,
    ModelVersionPage,
    TrainAccepted,
)
from catalog_service.errors import DomainError, Unavailable
from catalog_service.recommendations.client import (
    RecommenderClient,
    RecommenderRejected,
    RecommenderUnavailable,
)
from shared.experiments import ExperimentCreate, ExperimentRead
from shared.training import TrainRequest

logger = logging.getLogger(__name__)

# Registry calls touch the recommender's database and lock, not a cache: a longer budget than
# the recommendations' (which have a fallback to turn to).
ADMIN_TIMEOUT_S = 5.0

T = TypeVar("T")

_ACTIVE = TypeAdapter(ActiveModel)
_VERSION = TypeAdapter(ModelVersion)
_PAGE = TypeAdapter(ModelVersionPage)
_EPOCHS = TypeAdapter(list[EpochLog])
_ACCEPTED = TypeAdapter(TrainAccepted)
_EXPERIMENT = TypeAdapter(ExperimentRead)


class RecommenderAnswered(DomainError):
    """The recommender's 4xx, relayed as is."""

    def __init__(self, rejected: RecommenderRejected) -> None:
        super().__init__(rejected.message, code=rejected.code)
        self.status_code = rejected.status_code


def _unavailable(reason: str) -> Unavailable:
    return Unavailable(f"The recommender is unavailable: {reason}", code="recommender_unavailable")


async def relay(
    *,
    client: RecommenderClient,
    method: str,
    path: str,
    answer: TypeAdapter[T],
    params: dict[str, Any] | None = None,
    json: Any = None,
) -> T:
    try:
        body = await client.call_json(
            method, path, params=params, json=json, timeout_s=ADMIN_TIMEOUT_S
        )
    except RecommenderUnavailable as exc:
        logger.warning("%s %s: recommender unavailable: %s", method, path, exc.reason)
        raise _unavailable(exc.reason) from None
    except RecommenderRejected as exc:
        raise RecommenderAnswered(exc) from None
    try:
        return answer.validate_python(body)
    except ValidationError:
        logger.error("%s %s: the recommender's answer does not fit %s", method, path, answer)
        raise _unavailable("malformed answer") from None


# The registry calls, one each, for the JSON proxies and the console's page alike.


async def active_model(*, client: RecommenderClient) -> ActiveModel:
    return await relay(client=client, method="GET", path="/v1/model", answer=_ACTIVE)


async def list_models(*, client: RecommenderClient, limit: int, offset: int) -> ModelVersionPage:
    params = {"limit": limit, "offset": offset}
    return await relay(client=client, method="GET", path="/v1/models", params=params, answer=_PAGE)


async def epochs(*, client: RecommenderClient, version_id: int) -> list[EpochLog]:
    path = f"/v1/models/{version_id}/epochs"
    return await relay(client=client, method="GET", path=path, answer=_EPOCHS)


async def train(*, client: RecommenderClient, request: TrainRequest | None) -> TrainAccepted:
    body = request.model_dump(exclude_none=True) if request else None
    return await relay(
        client=client, method="POST", path="/v1/models/train", json=body, answer=_ACCEPTED
    )


async def activate(*, client: RecommenderClient, version_id: int) -> ModelVersion:
    path = f"/v1/models/{version_id}/activate"
    return await relay(client=client, method="POST", path=path, answer=_VERSION)


# Experiments (A/B tests of model versions): the recommender owns them.


async def start_experiment(*, client: RecommenderClient, data: ExperimentCreate) -> ExperimentRead:
    return await relay(
        client=client, method="POST", path="/v1/experiments", json=data.model_dump(),
        answer=_EXPERIMENT,
    )  # fmt: skip


async def current_experiment(*, client: RecommenderClient) -> ExperimentRead:
    path = "/v1/experiments/current"
    return await relay(client=client, method="GET", path=path, answer=_EXPERIMENT)


async def stop_experiment(*, client: RecommenderClient) -> ExperimentRead:
    path = "/v1/experiments/current"
    return await relay(client=client, method="DELETE", path=path, answer=_EXPERIMENT)


async def promote_experiment(*, client: RecommenderClient) -> ExperimentRead:
    path = "/v1/experiments/current/promote"
    return await relay(client=client, method="POST", path=path, answer=_EXPERIMENT)
