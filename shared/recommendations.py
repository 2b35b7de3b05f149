"""What the recommender answers over HTTP (DESIGN §7), declared once for both services: the
list shapes the catalog reads, and the names of the cold-start strategies.

The recommender owns the whole fallback chain (the personalised model, then items similar to a
new user's fresh interactions, then popularity within the user's niveau and filière; content
neighbours for an item the model does not know): its `fallback` field names the step that
answered. The catalog repeats that name as its `strategy`, and uses the same names for its own
last resort when the recommender cannot answer at all.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.enums import Arm


class Strategy(StrEnum):
    POPULARITY = "popularity"
    CONTENT = "content"
    SIMILAR_TO_RECENT = "similar-to-recent"


class RecommendedItem(BaseModel):
    item_id: int
    position: int = Field(ge=1, description="Its place in the list, 1 = first")
    score: float = Field(
        ge=0,
        le=1,
        description=(
            "0–1. From the model: its calibrated score (Platt scaling on held-out interactions:"
            " 0.5 is no evidence either way, higher is likelier to be the student's next paper"
            " than a random unseen one). From a fallback: cosine similarity (similar items,"
            " similar-to-recent), popularity relative to the most popular paper, or the share of"
            " subject area (content)."
        ),
    )
    reason: str = Field(examples=["because you downloaded Analyse 2 — partiel 2024"])
    title: str | None = None
    matiere: str | None = None
    filiere: str | None = None
    niveau: str | None = None
    type: str | None = None
    annee: int | None = None


_ITEM_EXAMPLE: Any = {
    "item_id": 42,
    "position": 1,
    "score": 0.93,
    "reason": "because you downloaded Algèbre linéaire — examen 2023",
    "title": "Analyse 2 — partiel 2024",
    "matiere": "Analyse",
    "filiere": "MATH",
    "niveau": "L2",
    "type": "PARTIEL",
    "annee": 2024,
}


_LIST_ID = "This answer's id, fresh for every answer (cached or not)"
_ARM = "During an A/B experiment: `candidate` (its candidate version) or `control` (the active)"


class Recommendations(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "recommendation_id": "6f1c2b1e-8d0a-4b52-9a51-3f0d2f8c9e77",
                    "cached": False,
                    "user_id": 7,
                    "model_version": 3,
                    "fallback": None,
                    "arm": None,
                    "experiment_id": None,
                    "items": [_ITEM_EXAMPLE],
                }
            ]
        }
    )

    recommendation_id: uuid.UUID = Field(description=_LIST_ID)
    cached: bool
    user_id: int
    model_version: int | None = Field(description="Version that produced the list, if any")
    fallback: Strategy | None = Field(description="Set when a cold-start path answered")
    arm: Arm | None = Field(default=None, description=_ARM)
    experiment_id: int | None = Field(default=None, description="The running A/B experiment")
    items: list[RecommendedItem]


class SimilarItems(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "recommendation_id": "0b8f3f0e-2c57-4d0e-8f4e-6c0f5d7b1a22",
                    "cached": True,
                    "item_id": 42,
                    "model_version": 3,
                    "fallback": None,
                    "arm": None,
                    "experiment_id": None,
                    "items": [_ITEM_EXAMPLE],
                }
            ]
        }
    )

    recommendation_id: uuid.UUID = Field(description=_LIST_ID)
    cached: bool
    item_id: int
    model_version: int | None
    fallback: Strategy | None
    # Similar lists depend on the item alone: the active version serves them, in no arm.
    arm: Arm | None = None
    experiment_id: int | None = None
    items: list[RecommendedItem]
