"""A/B tests of model versions over HTTP, declared once: the recommender owns experiments, the
catalog relays the admin's calls (`/v1/recommender/experiments…`) with these shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat

from shared.strict import IntOnly

ExperimentStatus = Literal["running", "promoted", "stopped"]


class ExperimentCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"candidate_version": 7, "traffic": 0.1}]},
    )

    candidate_version: Annotated[int, Field(ge=1, le=2**63 - 1), IntOnly] = Field(
        description="A trained version (ready or archived), other than the active one"
    )
    traffic: Annotated[StrictFloat, Field(gt=0, lt=1)] = Field(
        description="The share of users served the candidate (0 to 1, both excluded)"
    )


_EXAMPLE: Any = {
    "id": 2, "status": "running", "candidate_version": 7, "control_version": 5, "traffic": 0.1,
    "created_at": "2026-12-08T10:00:00Z", "ended_at": None,
}  # fmt: skip


class ExperimentRead(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        extra="allow",  # the catalog adds its online metrics per arm
        json_schema_extra={"examples": [_EXAMPLE]},
    )

    id: int
    status: ExperimentStatus
    candidate_version: int = Field(description="Served to the `candidate` arm")
    control_version: int = Field(
        description="The active version when it started (the `control` arm serves the active one)"
    )
    traffic: float = Field(description="The candidate arm's share of users")
    created_at: datetime
    ended_at: datetime | None
