"""Recommendation schemas: catalog records with the recommender's score and reason."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from catalog_service.epreuves.schemas import EpreuveRead
from shared.enums import EpreuveType, Filiere, Niveau
from shared.recommendations import Strategy
from shared.text import Line

K = Annotated[int, Field(ge=1, le=100, description="How many épreuves (1 to 100)")]
Source = Literal["recommender", "fallback"]


class RecommendationQuery(BaseModel):
    """The recommender's own filters, passed through."""

    model_config = ConfigDict(extra="forbid")

    k: K = 10
    exclude_seen: bool = Field(default=True, description="Leave out épreuves you already used")
    niveau: Niveau | None = None
    filiere: Filiere | None = None
    type: EpreuveType | None = None
    matiere: Annotated[str, Line(100)] | None = None


class SimilarQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k: K = 10


class RecommendedEpreuve(EpreuveRead):
    score: float = Field(description="The model's score, or popularity for the fallback")
    reason: str = Field(examples=["because you downloaded Analyse 2 (2023-2024)"])


class RecommendationList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": ["…épreuve fields…, score, reason"],
                    "source": "recommender",
                    "model_version": 3,
                    "strategy": None,
                }
            ]
        }
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
