"""The service credential: every /v1 route requires `X-Service-Key` (DESIGN §5)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from starlette.datastructures import State

from recommender_service.errors import Unauthorized
from shared.service_auth import SERVICE_KEY_HEADER, service_key_matches

# auto_error=False: a missing key goes through our error shape, not FastAPI's 403.
_api_key = APIKeyHeader(name=SERVICE_KEY_HEADER, auto_error=False, description="Shared secret")


async def require_service_key(
    request: Request, key: Annotated[str | None, Security(_api_key)]
) -> None:
    if not key_accepted(request.app.state, key):
        raise Unauthorized(f"missing or wrong {SERVICE_KEY_HEADER} header")


def key_accepted(state: State, given: str | None) -> bool:
    """Whether `given` is this deployment's service key; the routes' dependency and the paths
    that answer before routing all ask here."""
    return service_key_matches(given, state.settings.service_api_key.get_secret_value())


ServiceKey = Depends(require_service_key)
