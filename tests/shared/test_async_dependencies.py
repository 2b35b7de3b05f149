"""No thread-pool hop on any route of either service: FastAPI runs a plain `def` endpoint or
dependency in a worker thread and back, on every request (a fifth of the recommender's profile
under load before this was enforced)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts

from catalog_service.config import Settings as CatalogSettings
from catalog_service.main import create_app as create_catalog
from recommender_service.config import Settings as RecommenderSettings
from recommender_service.main import create_app as create_recommender

_DB = "postgresql+asyncpg://nobody@127.0.0.1:1/none"  # never connected: no lifespan runs
_REDIS = "redis://127.0.0.1:1"
# Once per sign-in, beside a password hash that costs far more than the hop: not a hot path.
_ALLOWED = {
    "catalog": {"['POST'] /v1/auth/token": ["<class 'catalog_service.auth.schemas.PasswordForm'>"]},
    "recommender": {},
}


def _is_async(call: Any) -> bool:
    function = call if inspect.isroutine(call) else type(call).__call__
    return inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)


def _sync_calls(dependant: Dependant) -> list[str]:
    own = [] if dependant.call is None or _is_async(dependant.call) else [repr(dependant.call)]
    return own + [name for sub in dependant.dependencies for name in _sync_calls(sub)]


def _apps() -> dict[str, FastAPI]:
    catalog = CatalogSettings(database_url=_DB, redis_url=_REDIS, jwt_secret="s" * 32)
    recommender = RecommenderSettings(database_url=_DB, redis_url=_REDIS)
    return {"catalog": create_catalog(catalog), "recommender": create_recommender(recommender)}


@pytest.mark.parametrize("service", ["catalog", "recommender"])
def test_every_endpoint_and_dependency_is_async(service: str) -> None:
    # Each route as served, with the dependencies its routers add (`include_router`).
    routes = [r for r in iter_route_contexts(_apps()[service].routes) if r.methods]
    api = [r for r in routes if getattr(r, "dependant", None) is not None]
    assert len(api) > 5  # the service's API, not an empty app
    sync = {f"{sorted(r.methods)} {r.path}": _sync_calls(r.dependant) for r in api}
    assert {path: calls for path, calls in sync.items() if calls} == _ALLOWED[service]
