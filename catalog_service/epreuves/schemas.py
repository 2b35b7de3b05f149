"""Épreuve schemas: create (multipart form), update (JSON), read, list filters."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from catalog_service.dependencies import MAX_ID
from catalog_service.patching import Omittable
from catalog_service.users.schemas import UserPublic
from shared.enums import EpreuveType, Filiere, Niveau
from shared.strict import IntOnly
from shared.text import Line, Text

Title = Annotated[str, Line(200)]
Matiere = Annotated[str, Line(100)]
Description = Annotated[str, Text(5000)]
Search = Annotated[str, Line(100, min_length=0)]
_ANNEE = Field(ge=1950, le=2100, description="Start of the academic year: 2024")
# The multipart form sends numbers as text; a JSON body must send a number.
Annee = Annotated[int, _ANNEE]
StrictAnnee = Annotated[int, _ANNEE, IntOnly]


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

    # Left out: unchanged; none of them may be null.
    title: Title = Omittable()
    matiere: Matiere = Omittable()
    filiere: Filiere = Omittable()
    niveau: Niveau = Omittable()
    type: EpreuveType = Omittable()
    annee: StrictAnnee = Omittable()
    description: Description = Omittable()


class EpreuveOrder(StrEnum):
    NEWEST = "newest"
    MOST_VIEWED = "most_viewed"
    MOST_DOWNLOADED = "most_downloaded"
    BEST_RATED = "best_rated"


class EpreuveFilters(BaseModel):
    filiere: Filiere | None = None
    niveau: Niveau | None = None
    type: EpreuveType | None = None
    matiere: Search | None = None
    annee: Annee | None = None
    teacher_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    q: Search | None = Field(default=None, description="Search in title, matière, description")
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
