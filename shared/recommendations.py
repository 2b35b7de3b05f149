"""What the recommender answers over HTTP (DESIGN §7), declared once for both services: the
list shapes the catalog reads, and the names of the cold-start strategies.

The recommender owns the whole fallback chain (the personalised model, then items similar to a
new user's fresh interactions, then popularity within the user's niveau and filière; content
neighbours for an item the model does not know): its `fallback` field names the step that
answered. The catalog repeats that name as its `strategy`, and uses the same names for its own
last resort when the recommender cannot answer at all.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Strategy(StrEnum):
    POPULARITY = "popularity"
    CONTENT = "content"
    SIMILAR_TO_RECENT = "similar-to-recent"


class RecommendedItem(BaseModel):
    item_id: int
    score: float = Field(description="Model score (or popularity / content similarity)")
    reason: str = Field(examples=["because you downloaded Analyse 2 — partiel 2024"])
    title: str | None = None
    matiere: str | None = None
    filiere: str | None = None
    niveau: str | None = None
    type: str | None = None
    annee: int | None = None


_ITEM_EXAMPLE: Any = {
    "item_id": 42,
    "score": 0.93,
    "reason": "because you downloaded Algèbre linéaire — examen 2023",
    "title": "Analyse 2 — partiel 2024",
    "matiere": "Analyse",
    "filiere": "MATH",
    "niveau": "L2",
    "type": "PARTIEL",
    "annee": 2024,
}


class Recommendations(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "cached": False,
                    "user_id": 7,
                    "model_version": 3,
                    "fallback": None,
                    "items": [_ITEM_EXAMPLE],
                }
            ]
        }
    )

    cached: bool
    user_id: int
    model_version: int | None = Field(description="Version that produced the list, if any")
    fallback: Strategy | None = Field(description="Set when a cold-start path answered")
    items: list[RecommendedItem]


class SimilarItems(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "cached": True,
                    "item_id": 42,
                    "model_version": 3,
                    "fallback": None,
                    "items": [_ITEM_EXAMPLE],
                }
            ]
        }
    )

    cached: bool
    item_id: int
    model_version: int | None
    fallback: Strategy | None
    items: list[RecommendedItem]
