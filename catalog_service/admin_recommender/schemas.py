"""The recommender's registry answers as the catalog relays them.

Only the fields an admin frontend relies on are declared; the rest of each answer is passed
through unchanged (`extra="allow"`), so a new recommender field needs no catalog release.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from catalog_service.stats.schemas import ExperimentMetrics
from shared.experiments import ExperimentRead


class _Relayed(BaseModel):
    model_config = ConfigDict(extra="allow")


class ModelVersion(_Relayed):
    id: int
    created_at: datetime
    algorithm: str
    status: str = Field(examples=["training", "ready", "active", "archived", "failed"])
    metrics: dict[str, Any]


class ModelVersionPage(BaseModel):
    items: list[ModelVersion]
    total: int
    limit: int
    offset: int


class EpochLog(_Relayed):
    stage: str
    epoch: int
    loss: float | None
    metrics: dict[str, Any]


class ActiveModel(_Relayed):
    active: ModelVersion | None
    training_in_progress: bool
    current_run: ModelVersion | None


class TrainAccepted(_Relayed):
    run_id: int = Field(description="The model version being trained")
    status: str


class ExperimentReport(ExperimentRead):
    online: ExperimentMetrics | None = Field(
        description="What its arms' lists earned so far (null before any was shown)"
    )
