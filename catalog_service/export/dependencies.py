"""ServiceCaller: the request carries the shared service credential (DESIGN §5)."""

from typing import Annotated

from fastapi import Depends, Header

from catalog_service.dependencies import SettingsDep
from catalog_service.errors import Unauthorized
from shared.service_auth import SERVICE_KEY_HEADER, service_key_matches


async def require_service_key(
    settings: SettingsDep,
    key: Annotated[str | None, Header(alias=SERVICE_KEY_HEADER, include_in_schema=False)] = None,
) -> None:
    if not service_key_matches(key, settings.service_api_key.get_secret_value()):
        raise Unauthorized(
            f"A valid {SERVICE_KEY_HEADER} header is required",
            code="invalid_service_key",
            headers=None,
        )


ServiceCaller = Annotated[None, Depends(require_service_key)]
