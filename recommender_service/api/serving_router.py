"""GET /v1/users/{user_id}/recommendations and GET /v1/items/{item_id}/similar."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from recommender_service.api.dependencies import ServingDep, SessionDep
from recommender_service.api.schemas import Recommendations, SimilarItems
from recommender_service.serving import service
from recommender_service.serving.items import ItemFilters
from shared.enums import EpreuveType, Filiere, Niveau
from shared.http_errors import error_responses
from shared.text import Line

router = APIRouter(tags=["recommendations"])

K = Annotated[int, Query(ge=1, le=100, description="How many items (1 to 100)")]
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get(
    "/users/{user_id}/recommendations",
    response_model=Recommendations,
    summary="Personalised top-K épreuves for a user",
)
async def recommendations(
    user_id: Id,
    session: SessionDep,
    serving: ServingDep,
    k: K = 10,
    exclude_seen: Annotated[bool, Query(description="Leave out items the user has used")] = True,
    niveau: Niveau | None = None,
    filiere: Filiere | None = None,
    type: EpreuveType | None = None,
    matiere: Annotated[Annotated[str, Line(128)] | None, Query()] = None,
) -> Recommendations:
    """Unknown users get popularity within their niveau/filière; users the model has not seen
    but who interacted since get items similar to those; `fallback` says which path answered."""
    filters = ItemFilters(
        niveau=niveau.value if niveau else None,
        filiere=filiere.value if filiere else None,
        type=type.value if type else None,
        matiere=matiere,
    )
    body = await service.recommendations(
        session=session,
        serving=serving,
        user_id=user_id,
        k=k,
        exclude_seen=exclude_seen,
        filters=filters,
    )
    return Recommendations.model_validate(body)


@router.get(
    "/items/{item_id}/similar",
    response_model=SimilarItems,
    responses=error_responses(404),
    summary="Épreuves similar to an épreuve",
)
async def similar(item_id: Id, session: SessionDep, serving: ServingDep, k: K = 10) -> SimilarItems:
    """Cosine similarity of the learned item embeddings; content-based neighbours (same
    matière, filière, niveau) for an item the model does not know yet."""
    body = await service.similar_items(session=session, serving=serving, item_id=item_id, k=k)
    return SimilarItems.model_validate(body)
