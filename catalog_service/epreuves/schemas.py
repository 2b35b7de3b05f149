"""Épreuve schemas: create (multipart form), update (JSON), read, list filters."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from catalog_service.users.schemas import UserPublic
from shared.enums import EpreuveType, Filiere, Niveau

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Matiere = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]
Annee = Annotated[int, Field(ge=1950, le=2100, description="Start of the academic year: 2024")]


class EpreuveCreate(BaseModel):
    title: Title
    matiere: Matiere
    filiere: Filiere
    niveau: Niveau
    type: EpreuveType
    annee: Annee
    description: Description = ""


class EpreuveUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"title": "Partiel d'analyse 2"}]}
    )

    title: Title | None = None
    matiere: Matiere | None = None
    filiere: Filiere | None = None
    niveau: Niveau | None = None
    type: EpreuveType | None = None
    annee: Annee | None = None
    description: Description | None = None


class EpreuveOrder(StrEnum):
    NEWEST = "newest"
    MOST_VIEWED = "most_viewed"
    MOST_DOWNLOADED = "most_downloaded"
    BEST_RATED = "best_rated"


class EpreuveFilters(BaseModel):
    filiere: Filiere | None = None
    niveau: Niveau | None = None
    type: EpreuveType | None = None
    matiere: str | None = Field(default=None, max_length=100)
    annee: int | None = Field(default=None, ge=1950, le=2100)
    teacher_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    q: str | None = Field(
        default=None, max_length=100, description="Search in title, matière, description"
    )
    order: EpreuveOrder = EpreuveOrder.NEWEST


class PopularFilters(BaseModel):
    niveau: Niveau | None = None
    filiere: Filiere | None = None


class EpreuveRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    matiere: str
    filiere: Filiere
    niveau: Niveau
    type: EpreuveType
    annee: int
    description: str
    teacher: UserPublic
    has_file: bool
    file_size: int | None
    views: int
    downloads: int
    avg_difficulty: float | None
    avg_relevance: float | None
    evaluations: int
    created_at: datetime
    updated_at: datetime
