"""A recommendation list as the catalog keeps and serves it: the answer's bytes without an id,
and what it shows (`Shown`), cached together; each time it is served (computed, from Redis,
from memory, or before routing) it gets a fresh `recommendation_id` and its impression is
recorded in the process's log (`impressions.log`), with no I/O on the way.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from catalog_service.impressions.log import ImpressionLog
from catalog_service.impressions.shown import Showing, Shown


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
    log.record(Showing(listed.shown, list_id, user_id, time.time()))
    return b'{"recommendation_id":"' + str(list_id).encode() + b'",' + listed.body[1:]
