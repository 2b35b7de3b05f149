"""Evaluation schemas: a user's rating, and an épreuve's anonymous aggregates."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from shared.strict import IntOnly

Score = Annotated[int, Field(ge=1, le=5, description="1 (lowest) to 5 (highest)"), IntOnly]


class EvaluationWrite(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"difficulty": 4, "relevance": 5}]}
    )

    difficulty: Score
    relevance: Score


class EvaluationAggregates(BaseModel):
    """What the épreuve shows of all its ratings, with nobody's identity."""

    epreuve_id: int
    evaluations: int
    avg_difficulty: float | None
    avg_relevance: float | None


class EvaluationSummary(EvaluationAggregates):
    # Number of ratings per score: keys "1" to "5".
    difficulty_histogram: dict[int, int]
    relevance_histogram: dict[int, int]


class EvaluationRead(BaseModel):
    """The caller's own evaluation, with the épreuve's aggregates after it."""

    model_config = ConfigDict(from_attributes=True)

    epreuve_id: int
    difficulty: int
    relevance: int
    created_at: datetime
    updated_at: datetime
    epreuve: EvaluationAggregates | None = None
