"""The catalog app factory: `uvicorn --factory catalog_service.main:create_app`.

Routes, middleware and error handlers; nothing connects at import: what the app creates and
closes while it runs is in `lifespan.py`.
"""

from datetime import timedelta

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from catalog_service import health
from catalog_service.admin.console import install as install_console
from catalog_service.admin_recommender.router import router as admin_recommender_router
from catalog_service.auth.router import router as auth_router
from catalog_service.auth.tokens import TokenSigner
from catalog_service.comments.router import router as comments_router
from catalog_service.config import Settings, get_settings
from catalog_service.epreuves.router import router as epreuves_router
from catalog_service.errors import install_error_handlers
from catalog_service.evaluations.router import router as evaluations_router
from catalog_service.export.router import router as export_router
from catalog_service.interactions.router import early_routes
from catalog_service.interactions.router import router as interactions_router
from catalog_service.lifespan import lifespan
from catalog_service.recommendations.memory_hits import remembered
from catalog_service.recommendations.router import router as recommendations_router
from catalog_service.stats.router import router as stats_router
from catalog_service.upload_limit import BodySizeLimitMiddleware
from catalog_service.users.router import router as users_router
from shared import api_docs
from shared.fast_path import EarlyAnswers
from shared.memory_hits import MemoryHits


def _signer(settings: Settings) -> TokenSigner:
    if settings.jwt_secret is None or not settings.jwt_secret.get_secret_value():
        raise RuntimeError("JWT_SECRET is not set: the catalog refuses to sign tokens without it")
    return TokenSigner(
        secret=settings.jwt_secret.get_secret_value(),
        algorithm=settings.jwt_algorithm,
        access_ttl=timedelta(minutes=settings.jwt_access_minutes),
        refresh_ttl=timedelta(days=settings.jwt_refresh_days),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="épreuves-reco catalog",
        version="1.0.0",
        description="Exam papers, users, interactions and recommendations.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.token_signer = _signer(settings)
    install_error_handlers(app)
    # First, before any other router: FastAPI matches a request against every route of each
    # included router in turn (no prefix shortcut), ~10 µs a router, and these are the hot paths.
    app.include_router(interactions_router)
    app.include_router(recommendations_router)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_upload_bytes)
    app.add_middleware(EarlyAnswers, routes=early_routes)  # inside the metrics
    health.install(app)
    # Outside the metrics (its hits count in catalog_recommendations_cache_total), inside CORS.
    app.add_middleware(MemoryHits, lookup=remembered)
    if settings.cors_origins:
        # Outermost: preflights and error answers (413, 500) carry the headers too.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    app.include_router(auth_router)
    app.include_router(users_router)
    app.include_router(epreuves_router)
    app.include_router(evaluations_router)
    app.include_router(comments_router)
    app.include_router(export_router)
    app.include_router(stats_router)
    app.include_router(admin_recommender_router)
    api_docs.install(app)
    install_console(app)
    return app
