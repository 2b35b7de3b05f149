"""The recommender's errors: the shared error family and its one JSON shape
(`shared.http_errors`, the same handlers as the catalog's), plus its own domain failures."""

from shared.http_errors import (
    ApiError,
    Conflict,
    NotFound,
    Unauthorized,
    Unavailable,
    error_response,
    install_error_handlers,
)


class TrainingInProgress(Conflict):
    code = "training_in_progress"


class NotEnoughData(Conflict):
    code = "not_enough_data"


__all__ = [
    "ApiError",
    "Conflict",
    "NotEnoughData",
    "NotFound",
    "TrainingInProgress",
    "Unauthorized",
    "Unavailable",
    "error_response",
    "install_error_handlers",
]
