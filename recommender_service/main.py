"""The recommender's FastAPI application: routes and error handlers; what it creates and closes
while it runs is in `lifespan.py`."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from recommender_service.api import (
    experiments_router,
    models_router,
    serving_router,
    stats_router,
)
from recommender_service.api.memory_hits import remembered
from recommender_service.config import Settings, get_settings
from recommender_service.errors import install_error_handlers
from recommender_service.health import router as health_router
from recommender_service.lifespan import lifespan
from recommender_service.security import ServiceKey
from shared import api_docs
from shared.http_errors import error_responses
from shared.memory_hits import MemoryHits


def create_app(settings: Settings | None = None) -> FastAPI:
    app = FastAPI(
        title="épreuves-reco recommender",
        version="1.0.0",
        description=(
            "Personalised and similar épreuves from a Neural Collaborative Filtering model, "
            "kept up to date from the catalog's event stream. Every /v1 call needs the "
            "`X-Service-Key` header."
        ),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings or get_settings()
    install_error_handlers(app)
    app.add_middleware(MemoryHits, lookup=remembered)
    v1 = APIRouter(
        prefix="/v1", dependencies=[ServiceKey], responses=error_responses(400, 401, 422, 503)
    )
    v1.include_router(serving_router.router)
    v1.include_router(models_router.router)
    v1.include_router(stats_router.router)
    v1.include_router(experiments_router.router)
    app.include_router(v1)
    app.include_router(health_router)
    api_docs.install(app)
    return app
