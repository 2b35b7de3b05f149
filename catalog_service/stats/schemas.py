"""The admin dashboard's shape. Breakdowns list every enum code, with 0 where nothing matches."""

from __future__ import annotations

from datetime import date, datetime

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


class OnlineMetrics(BaseModel):
    """What the lists shown earned (interactions attributed within the window)."""

    impressions: int = Field(description="Lists shown")
    engaged: int = Field(description="Lists with at least one interaction on a shown épreuve")
    ctr: float | None = Field(description="Click-through: engaged / impressions")
    downloads: int = Field(description="Lists with a download of a shown épreuve")
    download_rate: float | None = Field(description="downloads / impressions")
    mrr: float | None = Field(
        description="Mean over the lists of 1 / the position of the first épreuve engaged with "
        "(the earliest interaction; 0 for a list without any)"
    )
    items_shown: int = Field(description="Distinct épreuves in these lists")
    coverage: float | None = Field(description="items_shown / the active épreuves now")
    first_positions: dict[str, int] = Field(
        default_factory=dict, description="Engaged lists per position of their first engagement"
    )


class OnlineGroup(OnlineMetrics):
    source: str = Field(description="`recommender`, or `fallback` (the catalog's last resort)")
    model_version: int | None
    strategy: str | None = Field(description="The fallback that made the list; null: the model")
    arm: str | None = Field(description="`control` or `candidate` during an experiment")
    experiment_id: int | None


class OnlineDay(OnlineGroup):
    day: date


class CtrDifference(BaseModel):
    estimate: float = Field(description="candidate CTR - control CTR")
    low: float
    high: float
    confidence: float


class ExperimentMetrics(BaseModel):
    experiment_id: int
    arms: dict[str, OnlineMetrics] = Field(description="Per arm, over every version and strategy")
    ctr_difference: CtrDifference | None = Field(
        description="Two-proportion (Wald) interval; null until both arms have impressions"
    )


class RecommendationStats(BaseModel):
    since: datetime
    until: datetime
    attribution_window_minutes: int
    catalogue_size: int = Field(description="Active épreuves now (coverage's denominator)")
    groups: list[OnlineGroup] = Field(description="Over the window, per source, version, "
                                      "strategy, arm and experiment")  # fmt: skip
    daily: list[OnlineDay] = Field(description="The same, per UTC day of the list")
    experiments: list[ExperimentMetrics]
