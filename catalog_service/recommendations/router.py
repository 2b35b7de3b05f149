"""GET /v1/users/me/recommendations and GET /v1/epreuves/{id}/similar.

Never a 5xx because the recommender is away: the service answers with its fallback. A request
repeated exactly is answered before it reaches these routes (`memory_hits`); a first request of
a reader known in memory, with a query that validates, by `fast_mine` (`shared.fast_path`),
with the same checks and service call as the route, which answers anything else.
"""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.datastructures import State

from catalog_service.auth.readers import ReaderClaims, bearer_header, reader_in_memory
from catalog_service.dependencies import IdPath, SessionmakerDep, SettingsDep
from catalog_service.recommendations import service
from catalog_service.recommendations.dependencies import (
    AnswersDep,
    ImpressionsDep,
    RecommenderDep,
)
from catalog_service.recommendations.schemas import (
    RecommendationList,
    RecommendationQuery,
    SimilarQuery,
)
from shared.fast_path import fast_path, single_params
from shared.http_errors import error_responses
from shared.responses import JSONBytes

router = APIRouter(tags=["recommendations"], responses=error_responses(401, 404, 422, 503))


async def _mine(state: State, user_id: int, query: RecommendationQuery, raw: str) -> JSONBytes:
    body = await service.for_user(
        engine=state.engine,
        sessionmaker=state.sessionmaker,
        client=state.recommender,
        cache=state.answers,
        impressions=state.impressions,
        user_id=user_id,
        query=query,
        default_diversity=state.settings.diversity_default,
        raw_query=raw,
    )
    return JSONBytes(body)


async def fast_mine(request: Request) -> Response | None:
    """The common case of `my_recommendations`, or None to leave the request to it."""
    state = request.app.state
    user_id = reader_in_memory(state, bearer_header(request.scope))
    if user_id is None:
        return None
    query = single_params(request, RecommendationQuery)
    if query is None:
        return None
    return await _mine(state, user_id, query, raw_query(request))


async def my_recommendations(
    request: Request, reader: ReaderClaims, query: Annotated[RecommendationQuery, Query()]
) -> JSONBytes:
    """Épreuves for you: the recommender's personalised ranking (`source: "recommender"`), or
    the most popular in your niveau and filière when it cannot answer (`source: "fallback"`).
    Already-seen épreuves are left out unless `exclude_seen=false`. Every answer has its own
    `recommendation_id`, and each épreuve its `position`."""
    return await _mine(request.app.state, reader.user_id, query, raw_query(request))


router.add_api_route(
    "/v1/users/me/recommendations",
    my_recommendations,
    methods=["GET"],
    name="my_recommendations",
    response_model=RecommendationList,
    response_class=JSONBytes,
    route_class_override=fast_path(fast_mine),
)


@router.get(
    "/v1/epreuves/{epreuve_id}/similar",
    name="similar_epreuves",
    response_model=RecommendationList,
    response_class=JSONBytes,
)
async def similar_epreuves(
    request: Request,
    reader: ReaderClaims,
    epreuve_id: IdPath,
    sessionmaker: SessionmakerDep,
    recommender: RecommenderDep,
    answers: AnswersDep,
    impressions: ImpressionsDep,
    settings: SettingsDep,
    query: Annotated[SimilarQuery, Query()],
) -> JSONBytes:
    """Épreuves like this one: nearest neighbours in the model's item embeddings, or the same
    matière, filière and niveau when the recommender cannot answer."""
    diversity = settings.diversity_default if query.diversity is None else query.diversity
    body = await service.similar_to(
        engine=request.app.state.engine, sessionmaker=sessionmaker, client=recommender,
        cache=answers, impressions=impressions,
        user_id=reader.user_id, epreuve_id=epreuve_id, k=query.k, diversity=diversity,
        raw_query=raw_query(request),
    )  # fmt: skip
    return JSONBytes(body)


def raw_query(request: Request) -> str:
    # What `memory_hits` matches a repeated request by.
    return str(request.scope["query_string"].decode("latin-1"))
