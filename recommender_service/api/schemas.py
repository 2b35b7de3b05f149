"""Response and request models of the /v1 API (field names are part of the public contract)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class EpochLog(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    stage: str = Field(description="select (early-stopped on validation) or refit (all data)")
    epoch: int
    loss: float | None
    metrics: dict[str, Any]


class ModelVersionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    finished_at: datetime | None
    activated_at: datetime | None
    algorithm: str
    hyperparameters: dict[str, Any]
    trigger: str
    status: str
    n_users: int | None
    n_items: int | None
    n_interactions: int | None
    train_seconds: float | None
    metrics: dict[str, Any]
    error: str | None
    data_snapshot_at: datetime | None = Field(
        default=None, description="Interactions stored up to this time were its training data"
    )
    decision: Literal["activated", "kept"] | None = Field(
        default=None, description="Whether this version replaced the active one when it finished"
    )
    decision_reason: str | None = Field(
        default=None,
        examples=["not clearly worse than version 3: ndcg@10 0.4120 vs 0.1033 on the 40 held-out "
                  "interactions newer than its data"],
    )  # fmt: skip
    decision_scores: dict[str, Any] | None = Field(
        default=None,
        description="The candidate's and the active version's HR@10 / NDCG@10 on their common "
        "held-out rows (`candidate`, `active`, `popularity`, `rows`), and on the candidate's "
        "whole test split (`test_split`)",
    )
    owner: str | None = Field(default=None, description="host:pid of the process training it")
    heartbeat_at: datetime | None = Field(default=None, description="Its run's last heartbeat")


class ActiveModelStatus(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "active": {"id": 3, "algorithm": "neumf", "status": "active"},
                    "age_seconds": 3600.0,
                    "metrics": {"hr@10": 0.71, "ndcg@10": 0.44},
                    "popularity": {"hr@10": 0.45, "ndcg@10": 0.24},
                    "served_version": 3,
                    "training_in_progress": False,
                    "current_run": None,
                }
            ]
        }
    )

    active: ModelVersionRead | None
    age_seconds: float | None
    metrics: dict[str, Any] = Field(description="The model's metrics on its validation split")
    popularity: dict[str, Any] = Field(description="The popularity baseline on the same split")
    served_version: int | None = Field(description="Version loaded by this replica")
    training_in_progress: bool
    current_run: ModelVersionRead | None
    latest_trained: ModelVersionRead | None = Field(
        default=None,
        description="The newest trained version, with its activation decision (it may be kept)",
    )
    history: list[EpochLog] = Field(default_factory=list, description="Active version's epochs")


class TrainAccepted(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"run_id": 4, "status": "training"}]})

    run_id: int = Field(description="The model version being trained")
    status: str


class Stats(BaseModel):
    read_model: dict[str, int]
    cache: dict[str, int]
    consumer: dict[str, Any]
    serving: dict[str, Any]
