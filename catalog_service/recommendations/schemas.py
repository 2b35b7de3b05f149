"""Recommendation schemas: catalog records with the recommender's score and reason."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from catalog_service.epreuves.schemas import EpreuveRead
from shared.enums import Arm, EpreuveType, Filiere, Niveau
from shared.events import ListSource
from shared.recommendations import Strategy
from shared.text import Line

K = Annotated[int, Field(ge=1, le=100, description="How many épreuves (1 to 100)")]
Source = ListSource
Diversity = Annotated[
    float | None,
    Field(
        ge=0,
        le=1,
        description="Re-ranks the list for variety (maximal marginal relevance): 0 is the plain "
        "ranking, 1 the most varied; unset: DIVERSITY_DEFAULT (0.3, docs/BENCHMARKS.md)",
    ),
]


class RecommendationQuery(BaseModel):
    """The recommender's own filters, passed through."""

    model_config = ConfigDict(extra="forbid")

    k: K = 10
    exclude_seen: bool = Field(default=True, description="Leave out épreuves you already used")
    niveau: Niveau | None = None
    filiere: Filiere | None = None
    type: EpreuveType | None = None
    matiere: Annotated[str, Line(100)] | None = None
    diversity: Diversity = None


class SimilarQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k: K = 10
    diversity: Diversity = None


class RecommendedEpreuve(EpreuveRead):
    position: int = Field(ge=1, description="Its place in the list, 1 = first")
    score: float = Field(description="The model's score, or popularity for the fallback")
    reason: str = Field(examples=["because you downloaded Analyse 2 (2023-2024)"])


class RecommendationList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "recommendation_id": "6f1c2b1e-8d0a-4b52-9a51-3f0d2f8c9e77",
                    "items": ["…épreuve fields…, position, score, reason"],
                    "source": "recommender",
                    "model_version": 3,
                    "strategy": None,
                    "arm": None,
                    "experiment_id": None,
                }
            ]
        }
    )

    recommendation_id: uuid.UUID = Field(
        description="This list's id, fresh for every answer: send it back with what you do "
        "with its épreuves (`POST /v1/interactions`, or the `recommendation_id` query "
        "parameter of a view or a download) so that the list gets the credit"
    )
    items: list[RecommendedEpreuve]
    source: Source = Field(
        description="`recommender` when it answered; `fallback` when the catalog's own "
        "popularity answered because the recommender was slow, down or failing"
    )
    model_version: int | None = Field(description="The model version behind a recommender answer")
    strategy: Strategy | None = Field(
        description="How the list was made when not by the model: the step of the "
        "recommender's fallback chain that answered, or the catalog's last resort (with "
        "`source: fallback`)"
    )
    arm: Arm | None = Field(
        default=None, description="During an A/B experiment, the arm that served this list"
    )
    experiment_id: int | None = None
