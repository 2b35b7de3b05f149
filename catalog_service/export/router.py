"""GET /internal/export/*: the catalog's history for a recommender's bootstrap (service key)."""

from typing import Annotated

from fastapi import APIRouter, Query

from catalog_service.dependencies import SessionDep
from catalog_service.export import service
from catalog_service.export.dependencies import ServiceCaller
from catalog_service.export.schemas import MAX_LIMIT, ExportPage
from shared.events import EpreuveUpserted, EvaluationUpserted, InteractionCreated, UserUpserted

router = APIRouter(prefix="/internal/export", tags=["internal"])

AfterId = Annotated[
    int, Query(ge=0, le=2**63 - 1, description="Last id of the previous page; 0 to start")
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")]


@router.get("/users", name="export_users")
async def export_users(
    _caller: ServiceCaller, session: SessionDep, after_id: AfterId = 0, limit: Limit = 1000
) -> ExportPage[UserUpserted]:
    """Every user (deactivated ones with `is_active: false`), as `user.upserted` payloads."""
    return await service.users(session=session, after_id=after_id, limit=limit)


@router.get("/epreuves", name="export_epreuves")
async def export_epreuves(
    _caller: ServiceCaller, session: SessionDep, after_id: AfterId = 0, limit: Limit = 1000
) -> ExportPage[EpreuveUpserted]:
    """Every épreuve (deleted ones with `is_active: false`), as `epreuve.upserted` payloads."""
    return await service.epreuves(session=session, after_id=after_id, limit=limit)


@router.get("/interactions", name="export_interactions")
async def export_interactions(
    _caller: ServiceCaller, session: SessionDep, after_id: AfterId = 0, limit: Limit = 1000
) -> ExportPage[InteractionCreated]:
    """Every interaction, oldest first, as `interaction.created` payloads."""
    return await service.interactions(session=session, after_id=after_id, limit=limit)


@router.get("/evaluations", name="export_evaluations")
async def export_evaluations(
    _caller: ServiceCaller, session: SessionDep, after_id: AfterId = 0, limit: Limit = 1000
) -> ExportPage[EvaluationUpserted]:
    """Every current rating, as `evaluation.upserted` payloads."""
    return await service.evaluations(session=session, after_id=after_id, limit=limit)
