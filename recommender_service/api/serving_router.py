"""GET /v1/users/{user_id}/recommendations and GET /v1/items/{item_id}/similar.

The answers are bytes serialised once by `serving.service` (and served as cached, as they are):
the declared response models document them, nothing re-validates them. A request repeated
exactly is answered before it reaches these routes (`api.memory_hits`); a first request for a
user with only the parameters the catalog sends (k, exclude_seen, diversity) by
`fast_recommendations` (`shared.fast_path`), after the same service-key check; the route
answers anything else.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from recommender_service.api.dependencies import ServingDep
from recommender_service.security import key_accepted
from recommender_service.serving import service
from recommender_service.serving.items import ItemFilters
from shared.enums import EpreuveType, Filiere, Niveau
from shared.fast_path import fast_path, single_params
from shared.http_errors import error_responses
from shared.memory_hits import canonical_id
from shared.recommendations import Recommendations, SimilarItems
from shared.responses import JSONBytes
from shared.service_auth import SERVICE_KEY_HEADER
from shared.text import Line

router = APIRouter(tags=["recommendations"])

K = Annotated[int, Query(ge=1, le=100, description="How many items (1 to 100)")]
Diversity = Annotated[
    float,
    Query(ge=0, le=1, description="MMR re-ranking: 0 the plain ranking, 1 the most varied list"),
]
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]


class _CatalogQuery(BaseModel):
    """The parameters the catalog sends, validated as the route validates them."""

    model_config = ConfigDict(extra="forbid")

    k: K = 10
    exclude_seen: bool = True
    diversity: Diversity = 0.0


async def fast_recommendations(request: Request) -> Response | None:
    """The common case of `recommendations`, or None to leave the request to it."""
    state = request.app.state
    if not key_accepted(state, request.headers.get(SERVICE_KEY_HEADER)):
        return None
    user_id = canonical_id(request.path_params["user_id"])
    if user_id is None:
        return None
    query = single_params(request, _CatalogQuery)
    if query is None:
        return None
    body = await service.recommendations(
        serving=state.serving,
        user_id=user_id,
        k=query.k,
        exclude_seen=query.exclude_seen,
        filters=ItemFilters(),
        diversity=query.diversity,
        raw_query=_raw_query(request),
    )
    return JSONBytes(body)


async def recommendations(
    request: Request,
    user_id: Id,
    serving: ServingDep,
    k: K = 10,
    exclude_seen: Annotated[bool, Query(description="Leave out items the user has used")] = True,
    niveau: Niveau | None = None,
    filiere: Filiere | None = None,
    type: EpreuveType | None = None,
    matiere: Annotated[Annotated[str, Line(128)] | None, Query()] = None,
    diversity: Diversity = 0.0,
) -> JSONBytes:
    """Unknown users get popularity within their niveau/filière; users the model has not seen
    but who interacted since get items similar to those; `fallback` says which path answered."""
    filters = ItemFilters(
        niveau=niveau.value if niveau else None,
        filiere=filiere.value if filiere else None,
        type=type.value if type else None,
        matiere=matiere,
    )
    body = await service.recommendations(
        serving=serving,
        user_id=user_id,
        k=k,
        exclude_seen=exclude_seen,
        filters=filters,
        diversity=diversity,
        raw_query=_raw_query(request),
    )
    return JSONBytes(body)


router.add_api_route(
    "/users/{user_id}/recommendations",
    recommendations,
    methods=["GET"],
    response_model=Recommendations,
    response_class=JSONBytes,
    summary="Personalised top-K épreuves for a user",
    route_class_override=fast_path(fast_recommendations),
)


@router.get(
    "/items/{item_id}/similar",
    response_model=SimilarItems,
    response_class=JSONBytes,
    responses=error_responses(404),
    summary="Épreuves similar to an épreuve",
)
async def similar(
    request: Request, item_id: Id, serving: ServingDep, k: K = 10, diversity: Diversity = 0.0
) -> JSONBytes:
    """Cosine similarity of the learned item embeddings; content-based neighbours (same
    matière, filière, niveau) for an item the model does not know yet."""
    body = await service.similar_items(
        serving=serving, item_id=item_id, k=k, diversity=diversity, raw_query=_raw_query(request)
    )
    return JSONBytes(body)


def _raw_query(request: Request) -> str:
    # What `api.memory_hits` matches a repeated request by.
    return str(request.scope["query_string"].decode("latin-1"))
