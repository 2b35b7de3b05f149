"""GET /v1/users/me/recommendations and GET /v1/epreuves/{id}/similar.

Never a 5xx because the recommender is away: the service answers with its fallback.
"""

from typing import Annotated

from fastapi import APIRouter, Query

from catalog_service.auth.dependencies import CurrentUser
from catalog_service.dependencies import SessionDep
from catalog_service.epreuves.dependencies import EpreuveDep
from catalog_service.recommendations import service
from catalog_service.recommendations.dependencies import RecommenderDep
from catalog_service.recommendations.schemas import (
    RecommendationList,
    RecommendationQuery,
    SimilarQuery,
)
from shared.http_errors import error_responses

router = APIRouter(tags=["recommendations"], responses=error_responses(401, 404, 422, 503))


@router.get("/v1/users/me/recommendations", name="my_recommendations")
async def my_recommendations(
    user: CurrentUser,
    session: SessionDep,
    recommender: RecommenderDep,
    query: Annotated[RecommendationQuery, Query()],
) -> RecommendationList:
    """Épreuves for you: the recommender's personalised ranking (`source: "recommender"`), or
    the most popular in your niveau and filière when it cannot answer (`source: "fallback"`).
    Already-seen épreuves are left out unless `exclude_seen=false`."""
    return await service.for_user(session=session, client=recommender, user=user, query=query)


@router.get("/v1/epreuves/{epreuve_id}/similar", name="similar_epreuves")
async def similar_epreuves(
    _user: CurrentUser,
    epreuve: EpreuveDep,
    session: SessionDep,
    recommender: RecommenderDep,
    query: Annotated[SimilarQuery, Query()],
) -> RecommendationList:
    """Épreuves like this one: nearest neighbours in the model's item embeddings, or the same
    matière, filière and niveau when the recommender cannot answer."""
    return await service.similar_to(session=session, client=recommender, epreuve=epreuve, k=query.k)
