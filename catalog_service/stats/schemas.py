"""The admin dashboard's shape. Breakdowns list every enum code, with 0 where nothing matches."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class UserStats(BaseModel):
    total: int = Field(description="Every account, deactivated ones included")
    active: int
    by_role: dict[str, int] = Field(description="Active accounts per role")
    by_niveau: dict[str, int] = Field(description="Active accounts per niveau (when set)")
    by_filiere: dict[str, int] = Field(description="Active accounts per filière (when set)")


class EpreuveStats(BaseModel):
    active: int
    deleted: int
    by_filiere: dict[str, int] = Field(description="Active épreuves per filière")
    by_niveau: dict[str, int]
    by_type: dict[str, int]


class InteractionWindow(BaseModel):
    total: int
    by_kind: dict[str, int]


class InteractionStats(InteractionWindow):
    last_7_days: InteractionWindow
    last_30_days: InteractionWindow


class EvaluationStats(BaseModel):
    total: int
    avg_difficulty: float | None = Field(description="Over every rating, null when none")
    avg_relevance: float | None


class CommentStats(BaseModel):
    total: int


class TopEpreuve(BaseModel):
    id: int
    title: str
    views: int
    downloads: int


class OutboxStats(BaseModel):
    pending: int = Field(description="Events not yet published to the stream")
    oldest_pending_age_s: float | None = Field(
        description="Age of the oldest unpublished event: a growing value means the relay or "
        "Redis is stuck"
    )


class RecommenderStatus(BaseModel):
    """`available: true` plus the recommender's `GET /v1/model` answer (active version,
    metrics, training in progress), or `available: false` and the reason."""

    model_config = ConfigDict(extra="allow")

    available: bool
    error: str | None = None


class CatalogStats(BaseModel):
    users: UserStats
    epreuves: EpreuveStats
    interactions: InteractionStats
    evaluations: EvaluationStats
    comments: CommentStats
    top_viewed: list[TopEpreuve] = Field(description="The 10 most viewed active épreuves")
    top_downloaded: list[TopEpreuve] = Field(description="The 10 most downloaded active épreuves")
    outbox: OutboxStats
    recommender: RecommenderStatus
