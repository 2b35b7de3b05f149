"""GET /v1/stats (admins): catalog counts and the recommender's status, never a 5xx for it."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from catalog_service.auth.dependencies import AdminUser
from catalog_service.dependencies import SessionDep, SettingsDep
from catalog_service.recommendations.dependencies import RecommenderDep
from catalog_service.stats import online, service
from catalog_service.stats.schemas import CatalogStats, RecommendationStats
from shared.http_errors import error_responses

router = APIRouter(tags=["admin"], responses=error_responses(401, 403, 503))


@router.get("/v1/stats", name="stats")
async def stats(
    _admin: AdminUser, session: SessionDep, recommender: RecommenderDep
) -> CatalogStats:
    """Users, épreuves, interactions (overall, last 7 and 30 days), ratings, comments, the most
    viewed and downloaded épreuves, the outbox backlog, and the recommender's active model
    (`recommender.available: false` with the reason when it cannot answer)."""
    return await service.collect(session=session, client=recommender)


@router.get(
    "/v1/stats/recommendations", name="recommendation_stats", responses=error_responses(422)
)
async def recommendation_stats(
    _admin: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
    days: Annotated[int, Query(ge=1, le=90, description="The window: the last N days")] = 7,
) -> RecommendationStats:
    """Online metrics of the recommendation lists shown in the window, per source, model
    version, strategy, arm and experiment, over the window and per day: impressions,
    click-through (any interaction on a shown épreuve), download rate, MRR of the first
    engagement, coverage of the catalogue; per experiment, each arm's and the confidence
    interval of the click-through difference. An interaction counts for a list when it names
    the list (`recommendation_id`), is the same user's, is on a shown épreuve, and comes
    within ATTRIBUTION_WINDOW_MINUTES of it."""
    window = timedelta(minutes=settings.attribution_window_minutes)
    return await online.recommendation_stats(session=session, days=days, window=window)
