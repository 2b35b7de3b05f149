"""Export pages: items shaped exactly like the stream's event payloads (shared.events)."""

from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from shared.events import Payload

P = TypeVar("P", bound=Payload)

MAX_LIMIT = 5000


class ExportPage(BaseModel, Generic[P]):
    items: list[P]
    next_after_id: int | None = Field(
        description="Pass as `after_id` for the next page; null on the last page"
    )
    stream_last_id: str = Field(
        description=(
            "Stream id of the newest published event, read before this page's rows: every event "
            "up to it is reflected in the export. Keep the first page's value and start the "
            "consumer group there (`XGROUP CREATE <stream> recommender <id>`); later events may "
            "repeat exported rows, which consumers apply idempotently. '0-0' when none yet."
        )
    )
