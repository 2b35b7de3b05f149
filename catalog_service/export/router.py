"""GET /internal/export/*: the catalog's history for a recommender's bootstrap (service key)."""

from typing import Annotated

from fastapi import APIRouter, Query

from catalog_service.dependencies import SessionDep
from catalog_service.export import service
from catalog_service.export.dependencies import ServiceCaller
from catalog_service.export.schemas import MAX_LIMIT, ExportPage
from shared.events import Payload
from shared.http_errors import error_responses

router = APIRouter(
    prefix="/internal/export", tags=["internal"], responses=error_responses(401, 422, 503)
)

AfterId = Annotated[
    int, Query(ge=0, le=2**63 - 1, description="Last id of the previous page; 0 to start")
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")]

DESCRIPTIONS = {
    "users": "Every user (deactivated ones with `is_active: false`), as `user.upserted` payloads.",
    "epreuves": (
        "Every épreuve (deleted ones with `is_active: false`), as `epreuve.upserted` payloads."
    ),
    "interactions": "Every interaction, oldest first, as `interaction.created` payloads.",
    "evaluations": "Every current rating, as `evaluation.upserted` payloads.",
}


def _add_export_route(table: str) -> None:
    """GET /internal/export/{table}: the four routes differ only in table and payload type."""

    async def endpoint(
        _caller: ServiceCaller, session: SessionDep, after_id: AfterId = 0, limit: Limit = 1000
    ) -> ExportPage[Payload]:
        return await service.export_page(
            session=session, table=table, after_id=after_id, limit=limit
        )

    _model, payload = service.EXPORTS[table]
    router.add_api_route(
        f"/{table}",
        endpoint,
        methods=["GET"],
        name=f"export_{table}",
        response_model=ExportPage[payload],  # type: ignore[valid-type]
        description=DESCRIPTIONS[table],
    )


for _table in service.EXPORTS:
    _add_export_route(_table)
