"""GET /v1/stats (admins): catalog counts and the recommender's status, never a 5xx for it."""

from fastapi import APIRouter

from catalog_service.auth.dependencies import AdminUser
from catalog_service.dependencies import SessionDep
from catalog_service.recommendations.dependencies import RecommenderDep
from catalog_service.stats import service
from catalog_service.stats.schemas import CatalogStats
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
