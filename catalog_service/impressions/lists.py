"""A recommendation list as the catalog keeps and serves it: the answer's bytes without an id,
and what it shows (`Shown`), cached together; each time it is served (computed, from Redis,
from memory, or before routing) it gets a fresh `recommendation_id` and its impression is
recorded in the process's log (`impressions.log`), with no I/O on the way.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from catalog_service.impressions.log import ImpressionLog
from shared.enums import Arm, Surface
from shared.events import ImpressionRecorded, ListSource


@dataclass(frozen=True)
class Shown:
    surface: Surface
    item_ids: tuple[int, ...]  # by position
    source: ListSource
    model_version: int | None
    strategy: str | None
    arm: Arm | None = None
    experiment_id: int | None = None
    anchor_id: int | None = None  # the épreuve a similar list is about

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Shown:
        values = json.loads(raw)
        values["item_ids"] = tuple(values["item_ids"])
        values["surface"] = Surface(values["surface"])
        values["arm"] = Arm(values["arm"]) if values["arm"] else None
        return cls(**values)

    def impression(self, *, list_id: uuid.UUID, user_id: int) -> ImpressionRecorded:
        # Our own values, valid by construction: no validation on the serving path.
        values: dict[str, Any] = asdict(self)
        values["item_ids"] = list(self.item_ids)
        return ImpressionRecorded.model_construct(
            id=list_id, user_id=user_id, shown_at=datetime.now(UTC), **values
        )


@dataclass(frozen=True)
class Listed:
    """A cached answer: `body` is the response without its `recommendation_id`."""

    body: bytes
    shown: Shown

    def to_bytes(self) -> bytes:
        # JSON holds no raw newline: the first one ends `shown`.
        return self.shown.to_bytes() + b"\n" + self.body

    @classmethod
    def from_bytes(cls, raw: bytes) -> Listed:
        shown, _, body = raw.partition(b"\n")
        return cls(body, Shown.from_bytes(shown))


def serve(log: ImpressionLog, listed: Listed, *, user_id: int) -> bytes:
    """The response bytes, with a fresh id whose impression the log now holds."""
    list_id = uuid.uuid4()
    log.record(listed.shown.impression(list_id=list_id, user_id=user_id))
    return b'{"recommendation_id":"' + str(list_id).encode() + b'",' + listed.body[1:]
