"""POST /v1/interactions: the caller records what they did with an épreuve."""

from fastapi import APIRouter, status

from catalog_service.interactions.dependencies import AccessClaims, Batcher
from catalog_service.interactions.schemas import InteractionCreate, InteractionRead
from shared.http_errors import error_responses

router = APIRouter(
    prefix="/v1/interactions",
    tags=["interactions"],
    responses=error_responses(400, 401, 404, 422, 503),
)


@router.post("", status_code=status.HTTP_201_CREATED, name="create_interaction")
async def create_interaction(
    data: InteractionCreate, claims: AccessClaims, batcher: Batcher
) -> InteractionRead:
    """Records a CLICK, VIEW, DOWNLOAD or RATE by the caller (always for themself)."""
    # Written in a group commit with the requests of the same moment; 201 after COMMIT.
    row = await batcher.submit(
        user_id=claims.user_id,
        token_version=claims.version,
        epreuve_id=data.epreuve_id,
        kind=data.kind,
        metadata=data.metadata,
        relevance=data.relevance,
        recommendation_id=data.recommendation_id,
    )
    return InteractionRead.from_row(row)
