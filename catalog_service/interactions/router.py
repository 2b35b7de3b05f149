"""POST /v1/interactions: the caller records what they did with an épreuve."""

from fastapi import APIRouter, status

from catalog_service.interactions import service
from catalog_service.interactions.dependencies import AutocommitEngine, TokenUserId
from catalog_service.interactions.schemas import InteractionCreate, InteractionRead

router = APIRouter(prefix="/v1/interactions", tags=["interactions"])


@router.post("", status_code=status.HTTP_201_CREATED, name="create_interaction")
async def create_interaction(
    data: InteractionCreate, user_id: TokenUserId, engine: AutocommitEngine
) -> InteractionRead:
    """Records a CLICK, VIEW, DOWNLOAD or RATE by the caller (always for themself)."""
    row = await service.ingest(
        engine=engine,
        user_id=user_id,
        epreuve_id=data.epreuve_id,
        kind=data.kind,
        metadata=data.metadata,
        relevance=data.relevance,
    )
    return InteractionRead.from_row(row)
