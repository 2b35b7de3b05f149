"""Interaction schemas."""

import json
import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from catalog_service.interactions.models import InteractionRow
from shared.enums import InteractionKind
from shared.strict import IntOnly
from shared.text import JsonObject

MAX_METADATA_BYTES = 4096


class InteractionCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"epreuve_id": 12, "kind": "CLICK", "metadata": {"source": "search"}},
                {"epreuve_id": 12, "kind": "RATE", "relevance": 4},
                {
                    "epreuve_id": 12,
                    "kind": "DOWNLOAD",
                    "recommendation_id": "6f1c2b1e-8d0a-4b52-9a51-3f0d2f8c9e77",
                },
            ]
        },
    )

    # `true` or `"12"` is not an id (lax pydantic would store 1 and 12).
    epreuve_id: Annotated[int, Field(ge=1, le=2**63 - 1), IntOnly]
    kind: InteractionKind
    metadata: JsonObject | None = None
    relevance: Annotated[int, Field(ge=1, le=5), IntOnly] | None = Field(
        default=None, description="RATE only, 1 to 5"
    )
    recommendation_id: uuid.UUID | None = Field(
        default=None,
        description="The recommendation list this came from (its `recommendation_id`): it is "
        "attributed to that list when the épreuve was in it and within the attribution window",
    )

    @field_validator("metadata")
    @classmethod
    def _small(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(json.dumps(value)) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata must serialise to at most {MAX_METADATA_BYTES} bytes")
        return value

    @field_validator("relevance")
    @classmethod
    def _only_rate(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and info.data.get("kind") is not InteractionKind.RATE:
            raise ValueError("relevance is only allowed with kind RATE")
        return value


class InteractionRead(BaseModel):
    id: int
    user_id: int
    epreuve_id: int
    kind: InteractionKind
    metadata: dict[str, Any] | None
    relevance: int | None
    created_at: datetime
    recommendation_id: uuid.UUID | None = None

    @classmethod
    def from_row(cls, row: InteractionRow) -> "InteractionRead":
        return cls(
            id=row.id,
            user_id=row.user_id,
            epreuve_id=row.epreuve_id,
            kind=row.kind,
            metadata=row.meta,
            relevance=row.relevance,
            created_at=row.created_at,
            recommendation_id=row.recommendation_id,
        )
