"""The catalog's errors: the shared error family (`shared.http_errors`, one shape for both
services), with a Bearer challenge on every 401 of this service."""

from typing import Any

from shared.http_errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    RateLimited,
    TooLarge,
    Unavailable,
    UnsupportedMedia,
    error_response,
    install_error_handlers,
)
from shared.http_errors import Unauthorized as _Unauthorized

# Services raise these; the name the catalog has always used for the base class.
DomainError = ApiError


class Unauthorized(_Unauthorized):
    def __init__(self, message: str = "Not authenticated", **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


__all__ = [
    "BadRequest",
    "Conflict",
    "DomainError",
    "Forbidden",
    "Invalid",
    "NotFound",
    "RateLimited",
    "TooLarge",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMedia",
    "error_response",
    "install_error_handlers",
]
