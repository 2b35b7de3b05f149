"""The recommender's own feed of users' token swaps, so that every replica's in-memory
histories follow a consumed interaction without reading SQL.

The forget script (`cache.forget`) replaces each changed user's token and, in the same atomic
step, publishes here what it did: per user, the old token it read and the new one it set, with
the interactions applied (or null: the entry must go, after a profile change or a deletion).
Every replica but the publisher (which advanced its own entries already, `Histories.swapping`)
applies the message with `Histories.advance`, the one path for both; the channel is followed
on the result cache's memory-layer subscription (`heard`, a listener of `shared.nearcache`). A
lost message (a subscription down, a replica starting) costs only a reload: the entry's token no
longer matches the user's, so nothing is served from it.

Not `shared.freshness.CHANGES_CHANNEL`: the catalog reads that one, in its own format.

A message is `<old tokens, space-separated>\\n<JSON>`, the JSON being
`{"origin": …, "users": [[user_id, new token, [[item_id, kind, ISO time], …] or null], …]}`:
only the script knows the old tokens, so it writes them in front of what Python wrote.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from recommender_service.readmodel.service import Interacted

if TYPE_CHECKING:
    from recommender_service.serving.history import Histories

log = logging.getLogger(__name__)

HISTORY_CHANNEL = "recommender:internal:histories"


@dataclass(frozen=True)
class Swap:
    """One user's token replaced by the forget script, and what changed for them."""

    user_id: int
    old: str
    new: str
    interactions: tuple[Interacted, ...] | None  # None: drop the entry (profile, deletion)


Pending = tuple[int, str, tuple[Interacted, ...] | None]  # (user, new token, interactions)


def encode(origin: str, pending: Sequence[Pending]) -> str:
    """What Python writes of a message: everything but the old tokens."""
    users = [
        [user_id, new, None if done is None else [[i, k, at.isoformat()] for i, k, at in done]]
        for user_id, new, done in pending
    ]
    return json.dumps({"origin": origin, "users": users}, separators=(",", ":"))


def decode(message: str) -> tuple[str, list[Swap]]:
    """(origin, swaps) of a message as the script published it."""
    olds, _, body = message.partition("\n")
    data = json.loads(body)
    swaps = [
        Swap(int(user_id), old, new, None if done is None else _interactions(done))
        for old, (user_id, new, done) in zip(olds.split(" "), data["users"], strict=True)
    ]
    return data["origin"], swaps


def _interactions(done: list[list[Any]]) -> tuple[Interacted, ...]:
    return tuple((int(i), str(k), datetime.fromisoformat(at)) for i, k, at in done)


def heard(histories: Histories, message: str) -> None:
    """A message on the feed (the replica's memory layer follows the channel: its
    subscription, pings and reconnection): the other replicas' swaps move `histories`."""
    try:
        origin, swaps = decode(message)
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("history feed: unreadable message (%s); ignored", exc)
        return
    if origin != histories.origin:
        histories.advance(swaps)
