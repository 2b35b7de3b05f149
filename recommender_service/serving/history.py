"""Each user's profile and recent history in this replica's memory (a bounded LRU), so that an
uncached answer reads no SQL while nothing of theirs changed.

An entry is valid for the stamp (items generation, user token) it was loaded under; the cache
lookup reads the current stamp in its one round trip. Whichever replica's consumer applies one
of the user's events replaces their token (`cache.forget`), so every replica sees its entry go
stale at once, although each event reaches one replica only. An entry also ages out after
`USER_TOKEN_TTL_SECONDS`: once a token key expires it reads "0" again, like a never-changed user.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recommender_service.readmodel import service as readmodel
from recommender_service.serving.cache import Stamp
from shared.freshness import USER_TOKEN_TTL_SECONDS

RECENT = 20  # history items kept for the reasons ("because you downloaded …")


@dataclass(frozen=True)
class HistoryEntry:
    item_id: int
    kind: str
    occurred_at: datetime


@dataclass(frozen=True)
class UserActivity:
    niveau: str | None
    filiere: str | None
    recent: list[HistoryEntry]  # the latest interaction per item, most recent first
    seen: np.ndarray  # every item the user has interacted with


class Histories:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], *, max_users: int) -> None:
        self.sessionmaker = sessionmaker
        self.max_users = max_users
        self.loads = 0
        self._entries: OrderedDict[int, tuple[Stamp, float, UserActivity]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, user_id: int, stamp: Stamp) -> UserActivity:
        entry = self._entries.get(user_id)
        now = time.monotonic()
        fresh = entry is not None and now - entry[1] < USER_TOKEN_TTL_SECONDS
        if entry is not None and fresh and stamp.known and entry[0] == stamp:
            self._entries.move_to_end(user_id)
            return entry[2]
        async with self.sessionmaker() as session:
            activity = await readmodel.user_activity(session, user_id)
        self.loads += 1
        latest: dict[int, HistoryEntry] = {}
        for item_id, kind, occurred_at in activity.rows:
            if item_id not in latest:
                latest[item_id] = HistoryEntry(item_id, kind, occurred_at)
        loaded = UserActivity(
            activity.niveau,
            activity.filiere,
            list(latest.values())[:RECENT],
            np.fromiter(latest, dtype=np.int64, count=len(latest)),
        )
        if stamp.known and self.max_users > 0:
            self._entries[user_id] = (stamp, now, loaded)
            self._entries.move_to_end(user_id)
            while len(self._entries) > self.max_users:
                self._entries.popitem(last=False)
        return loaded
